"""Trading calendars and the one piece of trading-bar arithmetic every row rule uses.

A calendar says which candle open times are trading bars: ``24/7`` (crypto: every bar), ``24/5``
(FX: Sunday 22:00 to Friday 22:00 UTC, or ``24/5@HH:MM`` for another weekly open/close time) or
an exchange calendar such as ``XNYS`` (its sessions, holidays and half days from the
``exchange-calendars`` library). ``bar_ordinals`` numbers the trading bars of a history: two
rows are ``k`` trading bars apart when their ordinals differ by ``k``, so a night, a weekend or a
holiday between them is not a gap, and a bar missing inside an open session still is.
``bars_apart`` (rows k apart: how many trading bars?) and ``row_of_bar_ahead`` (which row holds
the bar k ahead?) are the trading-bar arithmetic that labels, input windows and the serving
window check call; purges count rows, and a row is a trading bar.

Intraday bars of an exchange calendar start on the session's open floored to the clock
(``min(interval, 1 h)``: hourly bars at 14:00 UTC hold the first half hour of a 14:30 open); a
``1d`` bar of an exchange is its session, stamped with the session's date (00:00 UTC). Pure:
no files, no network (the exchange schedule comes from the installed library).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from mlpkg.config import DEFAULT_CALENDAR, FeatureConfig, fx_week_open, interval_seconds
from mlpkg.errors import CalendarError

_HOUR = pd.Timedelta(hours=1).value
_DAY = pd.Timedelta(days=1).value
_WEEK = 7 * _DAY
_EXAMPLES = ("XNYS", "XNAS", "XLON", "XFRA", "XPAR", "XTKS", "XHKG", "XASX", "XTSE", "CMES")
_FIRST_SUNDAY = pd.Timestamp("1970-01-04", tz="UTC").value  # a Sunday 00:00 UTC


@dataclass(frozen=True)
class Schedule:
    """An exchange's sessions in UTC nanoseconds: ``labels`` (dates), ``opens``, ``closes``."""

    labels: np.ndarray
    opens: np.ndarray
    closes: np.ndarray


@lru_cache(maxsize=16)
def exchange_schedule(code: str, first_year: int, last_year: int) -> Schedule:
    """The sessions of exchange ``code`` from ``first_year`` to ``last_year`` (cached).

    Raises:
        CalendarError: for a code ``exchange-calendars`` does not know, or years outside it.
    """
    import exchange_calendars as xc  # half a second: imported on first use

    try:
        with warnings.catch_warnings():  # pandas 3 deprecations inside the library
            warnings.simplefilter("ignore")
            calendar = xc.get_calendar(code, start=f"{first_year}-01-01", end=f"{last_year}-12-31")
            schedule = calendar.schedule
    except xc.errors.InvalidCalendarName:
        raise CalendarError(
            f"Unknown trading calendar {code!r}: use 24/7, 24/5, 24/5@HH:MM or an exchange code "
            f"of the exchange-calendars library, e.g. {', '.join(_EXAMPLES)} (all of them: "
            "exchange_calendars.get_calendar_names())."
        ) from None
    except ValueError as exc:
        raise CalendarError(
            f"Calendar {code} has no sessions for {first_year}-{last_year}: {exc}. Use candles "
            "within its range, or another calendar."
        ) from None
    return Schedule(
        labels=pd.DatetimeIndex(schedule.index).tz_localize("UTC").as_unit("ns").asi8,
        opens=pd.DatetimeIndex(schedule["open"]).as_unit("ns").asi8,
        closes=pd.DatetimeIndex(schedule["close"]).as_unit("ns").asi8,
    )


def _stamps(index: pd.DatetimeIndex) -> np.ndarray:
    stamps: np.ndarray = pd.DatetimeIndex(index).as_unit("ns").asi8
    return stamps


def _always_open(stamps: np.ndarray, step: int) -> np.ndarray:
    """24/7: bar number on the clock grid of the first stamp; off-grid stamps are NaN."""
    if not len(stamps):
        return np.zeros(0)
    offset = stamps - stamps[0]
    ordinals = np.asarray(offset // step, dtype="float64")
    ordinals[offset % step != 0] = np.nan
    return ordinals


def _weekdays(stamps: np.ndarray, step: int, open_ns: int) -> np.ndarray:
    """24/5: weeks run from Sunday ``open_ns`` for five days; bars start on that open."""
    since = stamps - (_FIRST_SUNDAY + open_ns)
    week, into = np.divmod(since, _WEEK)
    per_week = -(-5 * _DAY // step)
    ordinals = np.asarray(week * per_week + into // step, dtype="float64")
    ordinals[(into >= 5 * _DAY) | (into % step != 0)] = np.nan
    return ordinals


def _sessions(stamps: np.ndarray, step: int, schedule: Schedule) -> np.ndarray:
    """An exchange: bars from each session's open (floored to the clock) up to its close."""
    if step >= _DAY:
        days = stamps - stamps % _DAY
        found = np.clip(np.searchsorted(schedule.labels, days), 0, len(schedule.labels) - 1)
        ordinals = found.astype("float64")
        ordinals[schedule.labels[found] != days] = np.nan
        return np.asarray(ordinals)
    align = min(step, _HOUR)
    anchors = schedule.opens - schedule.opens % align
    bars = -(-(schedule.closes - anchors) // step)
    first_bar = np.concatenate(([0], np.cumsum(bars)[:-1]))
    session = np.searchsorted(anchors, stamps, side="right") - 1
    inside = session >= 0
    session = np.maximum(session, 0)
    into = stamps - anchors[session]
    position = into // step
    ordinals = np.asarray(first_bar[session] + position, dtype="float64")
    ordinals[~inside | (into % step != 0) | (position >= bars[session])] = np.nan
    return ordinals


@dataclass(frozen=True)
class TradingCalendar:
    """A named trading calendar (``24/7``, ``24/5``, ``24/5@21:00``, ``XNYS``)."""

    name: str = DEFAULT_CALENDAR

    @property
    def always_open(self) -> bool:
        """True for 24/7, where every clock bar is a trading bar."""
        return self.name in ("", DEFAULT_CALENDAR)

    def bar_ordinals(self, index: pd.DatetimeIndex, interval: pd.Timedelta) -> np.ndarray:
        """Number the trading bars of ``index``: float64, NaN where a stamp is not a trading bar.

        Only differences mean something: rows t and u are ``ordinals[u] - ordinals[t]`` trading
        bars apart.

        Raises:
            CalendarError: for an unknown exchange code.
        """
        stamps = _stamps(index)
        step = pd.Timedelta(interval).value
        if self.always_open:
            return _always_open(stamps, step)
        if self.name.startswith("24/5"):
            return _weekdays(stamps, step, fx_week_open(self.name))
        if not len(stamps):
            return np.zeros(0)
        first, last = pd.Timestamp(stamps[0]), pd.Timestamp(stamps[-1])
        schedule = exchange_schedule(self.name, first.year - 1, last.year + 1)
        return _sessions(stamps, step, schedule)

    def bar_opens(self, index: pd.DatetimeIndex, interval: pd.Timedelta) -> pd.DatetimeIndex:
        """The open time of the ``interval`` trading bar holding each stamp (NaT outside one).

        Bars start on the calendar's sessions: 24/7 on the UTC clock (``4h``: 00:00, 04:00,
        ...), 24/5 on the weekly open (22:00, 02:00, ...), an exchange on each session's open
        floored to the clock, its ``1d`` bar being the session (stamped with its date).
        """
        stamps = _stamps(index)
        step = pd.Timedelta(interval).value
        if self.always_open:
            opens = (stamps - stamps % step).astype("float64")
        elif self.name.startswith("24/5"):
            anchor = _FIRST_SUNDAY + fx_week_open(self.name)
            week, into = np.divmod(stamps - anchor, _WEEK)
            opens = (anchor + week * _WEEK + into - into % step).astype("float64")
            opens[into >= 5 * _DAY] = np.nan
        else:
            opens = self._session_bar_opens(stamps, step)
        found = np.isfinite(opens)
        result = np.full(len(stamps), np.datetime64("NaT"), dtype="datetime64[ns]")
        result[found] = opens[found].astype("int64").astype("datetime64[ns]")
        return pd.DatetimeIndex(result, tz="UTC", name=index.name)

    def _session_bar_opens(self, stamps: np.ndarray, step: int) -> np.ndarray:
        if not len(stamps):
            return np.zeros(0)
        first, last = pd.Timestamp(stamps[0]), pd.Timestamp(stamps[-1])
        schedule = exchange_schedule(self.name, first.year - 1, last.year + 1)
        starts = schedule.opens - schedule.opens % min(step, _HOUR)
        session = np.maximum(np.searchsorted(starts, stamps, side="right") - 1, 0)
        into = stamps - starts[session]
        inside = (into >= 0) & (stamps < schedule.closes[session])
        opens = schedule.labels[session] if step >= _DAY else starts[session] + into - into % step
        result = opens.astype("float64")
        result[~inside] = np.nan
        return result

    def trading_bars(
        self, start: pd.Timestamp, end: pd.Timestamp, interval: pd.Timedelta
    ) -> pd.DatetimeIndex:
        """Every trading bar's open time from ``start`` to ``end`` (both included).

        24/7 bars keep the phase of ``start``; the others are found on the clock's grid of
        ``min(interval, 1 h)`` from ``start`` floored to the hour.
        """
        step = pd.Timedelta(interval)
        fine = min(step, pd.Timedelta(hours=1))
        first = pd.Timestamp(start) if self.always_open else pd.Timestamp(start).floor("h")
        grid = pd.date_range(first, pd.Timestamp(end), freq=step if self.always_open else fine)
        grid = grid.rename("open_time")
        return grid[np.isfinite(self.bar_ordinals(grid, step))]


def bar_after(
    calendar: TradingCalendar, stamp: pd.Timestamp, bars: int, interval: pd.Timedelta
) -> pd.Timestamp:
    """The open time of the trading bar ``bars`` trading bars after the bar opening at ``stamp``.

    On 24/7 it is ``stamp + bars * interval``; elsewhere closures are skipped (the target of an
    ``h``-bar prediction made at a Friday close is next week's bar).
    """
    step = pd.Timedelta(interval)
    if calendar.always_open:
        return pd.Timestamp(stamp) + bars * step
    span = bars * step * 4 + pd.Timedelta(days=14)
    while True:
        ahead = calendar.trading_bars(pd.Timestamp(stamp) + step, pd.Timestamp(stamp) + span, step)
        if len(ahead) >= bars:
            return pd.Timestamp(ahead[bars - 1])
        span *= 2


def bars_before(
    calendar: TradingCalendar, stamp: pd.Timestamp, bars: int, interval: pd.Timedelta
) -> pd.Timestamp:
    """The open time ``bars`` trading bars before ``stamp`` (24/7: ``stamp - bars * interval``).

    A purge of ``bars`` trading bars before a period that starts at ``stamp`` ends there:
    closures inside it do not shorten it.
    """
    step = pd.Timedelta(interval)
    if calendar.always_open or bars <= 0:
        return pd.Timestamp(stamp) - bars * step
    span = bars * step * 4 + pd.Timedelta(days=14)
    while True:
        before = calendar.trading_bars(pd.Timestamp(stamp) - span, pd.Timestamp(stamp) - step, step)
        if len(before) >= bars:
            return pd.Timestamp(before[-bars])
        span *= 2


def interval_length(interval: str) -> pd.Timedelta:
    """A candle interval name (``15m``, ``1h``, ``4h``, ``1d``) as a ``pd.Timedelta``.

    Raises:
        CalendarError: for another name.
    """
    try:
        return pd.Timedelta(seconds=interval_seconds(interval))
    except ValueError as exc:
        raise CalendarError(f"{exc}: choose one of those.") from None


def calendar_of(config: FeatureConfig) -> TradingCalendar:
    """The trading calendar a feature config names (empty: 24/7)."""
    return get_calendar(config.calendar)


def get_calendar(name: str) -> TradingCalendar:
    """The calendar called ``name`` (empty: 24/7)."""
    return TradingCalendar(name or DEFAULT_CALENDAR)


def bars_apart(ordinals: np.ndarray, rows: int) -> np.ndarray:
    """Trading bars between each row and the row ``rows`` positions later (NaN past the end).

    The one trading-bar rule: a label ``h`` bars ahead exists at row t when
    ``bars_apart(ordinals, h)[t] == h``; a window of ``w`` rows ending at row t is complete when
    ``bars_apart(ordinals, w - 1)[t - w + 1] == w - 1``. Any missing trading bar makes the
    difference larger; a closure does not.
    """
    apart = np.full(len(ordinals), np.nan)
    if 0 <= rows < len(ordinals):
        apart[: len(ordinals) - rows] = ordinals[rows:] - ordinals[: len(ordinals) - rows]
    return apart


def bars_ahead_exist(ordinals: np.ndarray, rows: int) -> np.ndarray:
    """Row t's bar ``rows`` trading bars ahead is row t + rows (no missing bar in between)."""
    return np.asarray(bars_apart(ordinals, rows) == rows)


def row_of_bar_ahead(ordinals: np.ndarray, bars: int) -> np.ndarray:
    """The row holding the trading bar ``bars`` bars after each row's, or -1 when it is missing.

    A label ``h`` bars ahead reads that row: never a row further away (a missing target bar
    makes the label NaN), and closures in between do not count. With no bar missing in between
    it is row t + bars (``bars_apart(ordinals, bars)[t] == bars``); a missing bar before the
    target only moves it nearer, so a purge of ``bars`` rows always covers it.
    """
    found = np.full(len(ordinals), -1, dtype=np.int64)
    valid = np.flatnonzero(np.isfinite(ordinals))
    if not valid.size:
        return found
    known = ordinals[valid]
    place = np.minimum(np.searchsorted(known, known + bars), len(known) - 1)
    hit = known[place] == known + bars
    found[valid[hit]] = valid[place[hit]]
    return found


def complete_windows_of(ordinals: np.ndarray, rows: int) -> np.ndarray:
    """Row t ends ``rows`` consecutive trading bars (the first ``rows - 1`` rows never do)."""
    complete = np.zeros(len(ordinals), dtype=bool)
    if len(ordinals) >= rows:
        complete[rows - 1 :] = bars_ahead_exist(ordinals, rows - 1)[: len(ordinals) - rows + 1]
    return complete


@dataclass(frozen=True)
class SessionReport:
    """What a history's missing clock bars are: calendar closures, or real gaps."""

    calendar: str
    rows: int
    off_calendar: int
    closed_bars: int
    missing_bars: int
    gaps: int


def session_report(
    index: pd.DatetimeIndex, calendar: TradingCalendar, interval: pd.Timedelta
) -> SessionReport:
    """Count closures and real gaps (missing trading bars) between the first and last candle."""
    step = pd.Timedelta(interval)
    ordinals = calendar.bar_ordinals(index, step)
    valid = np.isfinite(ordinals)
    apart = np.diff(ordinals[valid])
    missing = apart[apart > 1] - 1
    clock = np.diff(_stamps(pd.DatetimeIndex(index)[valid])) // step.value - 1
    return SessionReport(
        calendar=calendar.name,
        rows=len(index),
        off_calendar=int((~valid).sum()),
        closed_bars=int(clock.sum() - missing.sum()) if len(clock) else 0,
        missing_bars=int(missing.sum()),
        gaps=len(missing),
    )


def check_on_calendar(index: pd.DatetimeIndex, ordinals: np.ndarray, calendar: str) -> None:
    """Refuse candles that open outside the calendar's trading bars (the message names one).

    Raises:
        CalendarError: when a stamp is not a trading bar of ``calendar``.
    """
    outside = np.flatnonzero(~np.isfinite(ordinals))
    if outside.size:
        raise CalendarError(
            f"{outside.size} of {len(index)} candles are not trading bars of calendar "
            f"{calendar} (first at {index[outside[0]]}). Drop the candles outside its sessions "
            "(pre/post-market, weekends), choose the pair's calendar (MLPKG_CALENDARS, "
            "calendar=...), or check the interval and the bar alignment."
        )
