"""Pair names, calendars, candle intervals and the model key of a (pair, interval, horizon)."""

from __future__ import annotations

import re

from mlpkg.config.base import split_list
from mlpkg.errors import ConfigError

SHIPPED_PAIRS: tuple[str, ...] = ("BTC", "ETH", "LTC", "XRP", "EOS")
MARKET = "market"
"""The cross asset that stands for the equal-weight return of ``market_pairs``."""
PAIR_PATTERN = re.compile(r"^[A-Z0-9]{2,15}$")
_QUOTE_SUFFIX = re.compile(r"(?P<base>.*?)(?P<separator>[-_/]?)(?:USDT|USD)")
USD_TOKENS: frozenset[str] = frozenset(
    {
        *("AUSD", "BUSD", "CUSD", "DUSD", "EUSD", "GUSD", "HUSD", "LUSD", "MUSD", "OUSD"),
        *("SUSD", "TUSD", "ZUSD", "ALUSD", "DEUSD", "FDUSD", "FXUSD", "MKUSD", "PYUSD"),
        *("RLUSD", "LISUSD"),
    }
)
"""USD-denominated tokens whose symbol ends in USD: ``normalize_pair`` never splits them."""


def normalize_pair(pair: str) -> str:
    """Return the canonical pair name, the upper-case base symbol (``btc_usdt`` -> ``BTC``).

    The name is trimmed and upper-cased. At most one USD or USDT quote is then removed from
    its end:

    - after a separator (``-``, ``_`` or ``/``) it is always a quote: ``BTC_USDT``,
      ``BTC-USD``, ``BTC/USDT`` -> ``BTC``, and ``FDUSD-USDT`` -> ``FDUSD``;
    - glued to the name it is a quote only if the whole name is not a USD token
      (``USD_TOKENS``) and what remains is itself a valid base symbol: ``BTCUSD``,
      ``ETHUSDT`` -> ``ETH``, ``OPUSDT`` -> ``OP``, ``TUSDUSDT`` -> ``TUSD``, while
      ``TUSD``, ``BUSD``, ``FDUSD``, ``PYUSD`` (listed; a single letter is never a base
      either) and ``USDT``, ``USDC`` stay whole. A USD token missing from the list, such as
      Curve's ``CRVUSD``, reads as base + quote (``CRV``); spell it with a separator
      (``CRVUSD-USD``) to keep it whole.

    Args:
        pair: A pair name such as ``btc``, ``BTC_USDT``, ``BTCUSD`` or ``TUSD``.

    Returns:
        The base symbol: 2-15 upper-case letters or digits.

    Raises:
        ConfigError: if the base is not 2-15 letters/digits (a path, a space, another quote
            such as ``ETH-BTC``, an empty name).
    """
    text = str(pair).strip().upper()
    base = text
    match = _QUOTE_SUFFIX.fullmatch(text)
    if match and (
        match["separator"] or (text not in USD_TOKENS and PAIR_PATTERN.fullmatch(match["base"]))
    ):
        base = match["base"]
    if not PAIR_PATTERN.fullmatch(base):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ConfigError(
            f"Invalid pair {shown!r}: use a base symbol of 2-15 letters or digits such as "
            "'BTC', optionally with a USD or USDT quote ('BTC-USDT')."
        )
    return base


DEFAULT_CALENDAR = "24/7"
"""Every bar is a trading bar (crypto): the calendar of a pair nobody configured."""
DEFAULT_INTERVAL = "1h"
INTERVALS: dict[str, int] = {"15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}
"""The candle intervals a run may use, in seconds."""
_CALENDAR_PATTERN = re.compile(
    r"^(24/7|24/5(@([01][0-9]|2[0-3]):[0-5][0-9])?|[A-Z][A-Z0-9_]{1,11})$"
)


DEFAULT_HORIZON = 5
"""Candles ahead of the default model of a pair (``mlpkg-<PAIR>``)."""
_MODEL_KEY = re.compile(
    r"^(?P<pair>[A-Z0-9]{2,15})(-(?P<interval>15m|1h|4h|1d)-h(?P<horizon>\d{1,3}))?$"
)


def model_key(pair: str, interval: str = DEFAULT_INTERVAL, horizon: int = DEFAULT_HORIZON) -> str:
    """The key a pair's model for (interval, horizon) is registered and stored under.

    The default (1 h, h = 5) is the pair itself (``BTC``: ``mlpkg-BTC``); any other is
    ``<PAIR>-<interval>-h<horizon>`` (``BTC-4h-h6``: ``mlpkg-BTC-4h-h6``).
    """
    if (interval, horizon) == (DEFAULT_INTERVAL, DEFAULT_HORIZON):
        return pair
    return f"{pair}-{interval}-h{horizon}"


def split_model_key(key: str) -> tuple[str, str, int] | None:
    """``(pair, interval, horizon)`` of a model key, or ``None`` when it is not one."""
    match = _MODEL_KEY.fullmatch(key)
    if match is None:
        return None
    if match["interval"] is None:
        return match["pair"], DEFAULT_INTERVAL, DEFAULT_HORIZON
    return match["pair"], match["interval"], int(match["horizon"])


def check_calendar(value: object) -> str:
    """Return a calendar name in canonical form: ``24/7``, ``24/5``, ``24/5@HH:MM``, ``XNYS``.

    Raises:
        ValueError: for anything else (exchange codes are checked when first used).
    """
    text = str(value).strip()
    text = text if text.startswith("24/") else text.upper()
    if not _CALENDAR_PATTERN.fullmatch(text):
        raise ValueError(
            f"calendar {value!r} is not one of 24/7, 24/5 (Sunday 22:00 to Friday 22:00 UTC), "
            "24/5@HH:MM (another weekly open/close, UTC) or an exchange code such as XNYS"
        )
    return text


def fx_week_open(calendar: str) -> int:
    """Nanoseconds after Sunday 00:00 UTC at which a ``24/5`` week opens (22:00 by default)."""
    _, _, at = calendar.partition("@")
    hours, minutes = (int(part) for part in (at or "22:00").split(":"))
    return (hours * 3600 + minutes * 60) * 1_000_000_000


def interval_seconds(interval: str) -> int:
    """The length in seconds of a candle interval name (``15m``, ``1h``, ``4h``, ``1d``).

    Raises:
        ValueError: for another name.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")
    return INTERVALS[interval]


def parse_calendars(value: object) -> dict[str, str]:
    """Parse ``MLPKG_CALENDARS`` (``"SPY=XNYS EURUSD=24/5"``) into ``{pair: calendar}``.

    Raises:
        ValueError: on an entry without ``=``, a bad pair or a bad calendar.
    """
    if isinstance(value, dict):
        return {normalize_pair(k): check_calendar(v) for k, v in value.items()}
    calendars: dict[str, str] = {}
    for entry in split_list(value or ""):
        pair, sep, calendar = str(entry).partition("=")
        if not sep:
            raise ValueError(
                f"MLPKG_CALENDARS entry {entry!r} needs PAIR=CALENDAR, e.g. SPY=XNYS EURUSD=24/5"
            )
        calendars[normalize_pair(pair)] = check_calendar(calendar)
    return calendars
