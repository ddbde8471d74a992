"""Candles resampled to a run's interval, aligned to the calendar's sessions.

A source's finer candles are grouped into the ``interval`` trading bars of the pair's calendar
(``TradingCalendar.bar_opens``: a ``4h`` equity bar starts at its session's open, a ``1d``
equity bar is its session) with the OHLCV rules: first open, highest high, lowest low, last
close, summed volume. A last bar the source has not finished is dropped (it is still forming).
Coarser candles cannot be split and are refused. Pure: no files, no network.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mlpkg.config import FeatureConfig
from mlpkg.data.calendars import (
    TradingCalendar,
    calendar_of,
    check_on_calendar,
    interval_length,
    session_report,
)
from mlpkg.data.schema import format_interval, infer_frequency
from mlpkg.errors import CalendarError

log = logging.getLogger(__name__)
_RULES = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def to_interval(
    candles: pd.DataFrame, interval: pd.Timedelta, calendar: TradingCalendar, *, origin: str
) -> pd.DataFrame:
    """Return ``candles`` on ``interval``: unchanged when they already are, else resampled.

    Raises:
        CalendarError: when the candles are coarser than ``interval``, or ``interval`` is not a
            whole number of their own interval.
    """
    if len(candles) < 2:
        return candles
    source = infer_frequency(pd.DatetimeIndex(candles.index))
    target = pd.Timedelta(interval)
    if source == target:
        return candles
    if source > target or target % source:
        raise CalendarError(
            f"{origin} has candles of {format_interval(source)}; they cannot make candles of "
            f"{format_interval(target)} (only finer candles are resampled, to a whole multiple "
            f"of their interval). Set interval to {format_interval(source)} or coarser, or "
            "provide finer candles."
        )
    opens = calendar.bar_opens(pd.DatetimeIndex(candles.index), target)
    inside = candles[opens.notna()]
    grouped = inside.groupby(opens[opens.notna()], sort=True)
    bars = grouped.agg(_RULES)
    counts = grouped.size()
    bars.index = pd.DatetimeIndex(bars.index, name="open_time")
    expected = calendar.trading_bars(bars.index[-1], bars.index[-1] + target - source, source)
    expected = expected[calendar.bar_opens(expected, target) == bars.index[-1]]
    if counts.iloc[-1] < len(expected):
        bars = bars.iloc[:-1]  # the source stops inside it: still forming
    return bars.astype("float64")


def session_candles(candles: pd.DataFrame, config: FeatureConfig, *, origin: str) -> pd.DataFrame:
    """The candles a run reads: on ``config.interval``, every one a trading bar of its calendar.

    Raises:
        CalendarError: on candles coarser than the interval, or (any calendar but 24/7) a
            candle that is not a trading bar of the calendar.
    """
    calendar = calendar_of(config)
    interval = interval_length(config.interval)
    candles = to_interval(candles, interval, calendar, origin=origin)
    if not calendar.always_open:
        index = pd.DatetimeIndex(candles.index)
        check_on_calendar(index, calendar.bar_ordinals(index, interval), calendar.name)
    report = session_report(pd.DatetimeIndex(candles.index), calendar, interval)
    log.info(
        "%s: %d candles of %s on calendar %s: %d bars closed (nights, weekends, holidays), "
        "%d trading bars missing in %d gaps",
        origin,
        report.rows,
        config.interval,
        report.calendar,
        report.closed_bars,
        report.missing_bars,
        report.gaps,
    )
    return candles


def reference_candles(candles: pd.DataFrame, config: FeatureConfig, *, origin: str) -> pd.DataFrame:
    """A cross asset's candles as the pair's run reads them: the pair's own bars.

    Resampled to ``config.interval`` along the pair's calendar (``config.calendar``), exactly
    as the pair's candles are, so a reference bar covers the same span as the pair's bar of the
    same open time; its candles outside the pair's trading bars (a crypto reference's nights
    beside an equity) are dropped, not refused: the pair never reads them, and a reference's
    one-bar return is then over the pair's previous trading bar, as the pair's own is. A pair
    bar the reference lacks stays a gap (``mlpkg.features.cross_asset``). Pure and idempotent.

    Raises:
        CalendarError: on candles coarser than the interval.
    """
    calendar = calendar_of(config)
    interval = interval_length(config.interval)
    candles = to_interval(candles, interval, calendar, origin=origin)
    if calendar.always_open or not len(candles):
        return candles
    ordinals = calendar.bar_ordinals(pd.DatetimeIndex(candles.index), interval)
    return candles[np.isfinite(ordinals)]
