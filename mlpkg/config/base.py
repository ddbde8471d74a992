"""What the settings and the run configs share: the frozen model base and value parsers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """A frozen pydantic model that rejects unknown names (every run config section)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def split_list(value: Any) -> Any:
    """Split a comma- or space-separated string into its items (other values pass through)."""
    if isinstance(value, str):
        return [item for item in re.split(r"[,\s]+", value) if item]
    return value


_DURATION_UNITS: dict[str, float] = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object, name: str) -> float | None:
    """Seconds of a duration such as ``24h``, ``30m``, ``90s``, ``7d`` or ``3600`` (seconds).

    ``""``, ``0``, ``off``, ``false``, ``no`` and ``none`` mean off (``None``).

    Raises:
        ValueError: for anything else, or a negative duration (a settings error).
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "0", "off", "false", "none", "no"):
        return None
    unit = _DURATION_UNITS.get(text[-1])
    number = text[:-1] if unit is not None else text
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ValueError(
            f"{name} {value!r} is not a duration: use e.g. 24h, 30m, 90s, 7d, a number of "
            "seconds, or off"
        )
    return seconds or None


def parse_utc_time(value: str, name: str) -> str:
    """Return an ISO date/time as a UTC ISO string ('' stays '').

    Raises:
        ValueError: if ``value`` is not an ISO date/time.
    """
    if not value:
        return ""
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{name} {value!r} is not an ISO date/time like 2019-06-30") from exc
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    return stamp.isoformat()
