"""Time for the live service: the wall clock, or a replay clock over real past candles.

Two rules hold whatever the source:

- **Closed candles only** (:func:`closed_candles`): a candle is used once ``open_time +
  interval <= now``. A candle still forming (the last row of a file being appended to, or of
  core's history) is never scored and never settles a prediction.
- **Replay** (``MLPKG_DATA_SOURCE=replay``): the real candles of ``MLPKG_REPLAY_FROM``
  (``shipped`` or ``file``) are revealed up to a moving :class:`ReplayClock` that starts at
  ``MLPKG_REPLAY_START`` and runs ``MLPKG_REPLAY_SPEED`` times faster than the wall clock
  (3600 = one hour of candles per second). Everything downstream (scoring, outcomes, live
  accuracy, retraining, drift) runs on that clock, so the service behaves as it would have in
  production over that period.

Pure apart from reading ``time.monotonic`` (injectable for tests).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import pandas as pd

from mlpkg.errors import ConfigError


class Clock(Protocol):
    """What the live service asks of a clock."""

    @property
    def mode(self) -> str:
        """``wall`` or ``replay``."""
        ...

    def now(self) -> pd.Timestamp:
        """The current time (UTC)."""
        ...

    def wall_seconds(self, span: pd.Timedelta) -> float:
        """Wall-clock seconds that ``span`` of this clock's time takes."""
        ...


class WallClock:
    """The real time (UTC)."""

    mode = "wall"

    def now(self) -> pd.Timestamp:
        """The current UTC time (microseconds)."""
        return pd.Timestamp.now(tz="UTC").floor("us")

    def wall_seconds(self, span: pd.Timedelta) -> float:
        """``span`` in seconds (the wall clock runs at speed 1)."""
        return float(pd.Timedelta(span).total_seconds())


class ReplayClock:
    """A clock that starts at a past time and runs ``speed`` times faster than the wall clock.

    Args:
        speed: Clock seconds per wall-clock second (3600: one hour per second).
        monotonic: The wall-clock source (``time.monotonic``; injectable for tests).

    Raises:
        ConfigError: if ``speed`` is not a positive finite number.
    """

    mode = "replay"

    def __init__(self, speed: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not math.isfinite(speed) or speed <= 0:
            raise ConfigError(
                f"MLPKG_REPLAY_SPEED must be a positive number (3600 = one hour of candles per "
                f"second), got {speed}."
            )
        self.speed = float(speed)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._origin: pd.Timestamp | None = None
        self._wall0 = 0.0

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called."""
        return self._origin is not None

    @property
    def origin(self) -> pd.Timestamp | None:
        """The time the clock started at (``None`` before :meth:`start`)."""
        return self._origin

    def start(self, at: pd.Timestamp, wall0: float | None = None) -> None:
        """Set the clock to ``at`` (UTC) now, or at the monotonic time ``wall0``; it runs on.

        ``wall0`` lets several processes of one machine run one clock (``time.monotonic`` is
        system-wide on Linux).
        """
        stamp = pd.Timestamp(at)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        with self._lock:
            self._origin = stamp
            self._wall0 = self._monotonic() if wall0 is None else wall0

    def now(self) -> pd.Timestamp:
        """The replayed time.

        Raises:
            ConfigError: before :meth:`start` (the service starts it when it opens).
        """
        origin = self._origin
        if origin is None:
            raise ConfigError("The replay clock has not started: the service starts it at open.")
        elapsed = (self._monotonic() - self._wall0) * self.speed
        return (origin + pd.Timedelta(seconds=elapsed)).floor("us")

    def wall_seconds(self, span: pd.Timedelta) -> float:
        """Wall-clock seconds that ``span`` of replayed time takes."""
        return float(pd.Timedelta(span).total_seconds()) / self.speed


def closed_candles(
    candles: pd.DataFrame, now: pd.Timestamp, interval: pd.Timedelta
) -> pd.DataFrame:
    """The candles that have closed by ``now``: ``open_time + interval <= now``.

    Args:
        candles: A candle frame, oldest first.
        now: The current time (UTC).
        interval: The candle length.

    Returns:
        A prefix of ``candles`` (the same object when every candle has closed).
    """
    index = pd.DatetimeIndex(candles.index)
    if len(index) == 0 or index[-1] + interval <= now:
        return candles
    bound = pd.Timestamp(now - interval).floor(index.unit)  # the index's resolution
    cut = int(index.searchsorted(bound, side="right"))
    return candles.iloc[:cut]


def holdout_share_start(index: pd.DatetimeIndex, fraction: float) -> pd.Timestamp:
    """The open time where the last ``fraction`` of ``index`` starts (the default holdout share).

    Raises:
        ConfigError: for an empty index or a fraction outside (0, 1).
    """
    if len(index) == 0 or not 0.0 < fraction < 1.0:
        raise ConfigError(
            f"Cannot place a replay start in {len(index)} candles with share {fraction}."
        )
    position = min(len(index) - 1, int(len(index) * (1.0 - fraction)))
    return pd.Timestamp(index[position])
