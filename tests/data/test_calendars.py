"""Trading calendars on real sessions: a holiday, a half day, FX weekends, the one bar rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sessions import HOUR, session_shaped

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.data.calendars import (
    bar_after,
    bars_apart,
    complete_windows_of,
    get_calendar,
    session_report,
)
from mlpkg.errors import CalendarError, ConfigError


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_xnys_skips_thanksgiving_and_ends_the_half_day_early():
    bars = get_calendar("XNYS").trading_bars(_utc("2018-11-21"), _utc("2018-11-24"), HOUR)
    by_day = pd.Series(1, index=bars).groupby(bars.date).sum()
    days = {str(day): int(n) for day, n in by_day.items()}
    # 14:30-21:00 UTC in winter: bars 14:00..20:00; Thanksgiving closed; Friday closes 18:00.
    assert days == {"2018-11-21": 7, "2018-11-23": 4}
    assert bars[-1] == _utc("2018-11-23 17:00")


def test_xnys_follows_daylight_saving_time():
    summer = get_calendar("XNYS").trading_bars(_utc("2018-07-10"), _utc("2018-07-11"), HOUR)
    assert summer[0] == _utc("2018-07-10 13:00") and summer[-1] == _utc("2018-07-10 19:00")


def test_fx_week_closes_friday_22_and_reopens_sunday_22():
    calendar = get_calendar("24/5")
    stamps = pd.DatetimeIndex([_utc("2018-11-23 21:00"), _utc("2018-11-25 22:00")])
    assert np.diff(calendar.bar_ordinals(stamps, HOUR)).tolist() == [1.0]
    weekend = pd.date_range(_utc("2018-11-23 22:00"), _utc("2018-11-25 21:00"), freq="h")
    assert np.isnan(calendar.bar_ordinals(weekend, HOUR)).all()
    moved = get_calendar("24/5@21:00").trading_bars(_utc("2018-11-25"), _utc("2018-11-26"), HOUR)
    assert moved[0] == _utc("2018-11-25 21:00")


def test_bars_apart_counts_trading_bars_not_clock_time():
    index = pd.DatetimeIndex(
        [_utc("2018-11-21 19:00"), _utc("2018-11-21 20:00"), _utc("2018-11-23 14:00")]
    )
    ordinals = get_calendar("XNYS").bar_ordinals(index, HOUR)
    assert bars_apart(ordinals, 1)[:2].tolist() == [1.0, 1.0]  # over the holiday: one bar
    assert complete_windows_of(ordinals, 3).tolist() == [False, False, True]
    assert bar_after(get_calendar("XNYS"), index[1], 2, HOUR) == _utc("2018-11-23 15:00")
    assert bar_after(get_calendar("24/7"), index[1], 2, HOUR) == _utc("2018-11-21 22:00")


def test_a_missing_bar_inside_a_session_is_a_gap_and_a_closure_is_not(btc_full):
    candles = session_shaped(btc_full, "XNYS")
    holed = candles.drop(_utc("2018-11-20 17:00"))
    report = session_report(pd.DatetimeIndex(holed.index), get_calendar("XNYS"), HOUR)
    before = session_report(pd.DatetimeIndex(candles.index), get_calendar("XNYS"), HOUR)
    assert report.missing_bars == before.missing_bars + 1
    assert report.gaps == before.gaps + 1
    assert report.closed_bars == before.closed_bars > 10_000  # nights, weekends, holidays
    assert report.off_calendar == 0


def test_an_unknown_exchange_is_refused_with_the_choices(btc_candles):
    with pytest.raises(CalendarError, match=r"Unknown trading calendar 'XXXX'.*XNYS"):
        get_calendar("XXXX").bar_ordinals(pd.DatetimeIndex(btc_candles.index), HOUR)


def test_calendars_come_from_the_environment_and_are_recorded(monkeypatch):
    monkeypatch.setenv("MLPKG_CALENDARS", "SPY=xnys EURUSD=24/5")
    get_settings.cache_clear()
    assert Settings().calendars == {"SPY": "XNYS", "EUR": "24/5"}
    assert RunConfig(pair="SPY").calendar == "XNYS"
    assert RunConfig(pair="EURUSD").to_flat()["calendar"] == "24/5"
    assert RunConfig(pair="BTC").calendar == "24/7"
    assert RunConfig.from_flat(pair="SPY", calendar="24/7").calendar == "24/7"  # explicit wins
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"calendar": "24/6"}, "calendar '24/6' is not one of 24/7, 24/5"),
        ({"interval": "2h"}, "interval '2h' is not one of 15m, 1h, 4h, 1d"),
    ],
)
def test_bad_calendars_and_intervals_say_what_is_allowed(params, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_flat(**params)


def test_a_bad_calendars_variable_names_the_entry(monkeypatch):
    monkeypatch.setenv("MLPKG_CALENDARS", "SPY:XNYS")
    with pytest.raises(ValueError, match="needs PAIR=CALENDAR"):
        Settings()


def test_validation_reports_closures_and_real_gaps_separately(btc_full):
    from mlpkg.data.sources import describe_candles

    candles = session_shaped(btc_full, "XNYS").drop(_utc("2018-11-20 17:00"))
    as_clock = describe_candles(candles)
    as_sessions = describe_candles(candles, "XNYS")
    assert as_clock["gaps"] > 500  # every night reads as a gap without the calendar
    assert as_sessions["calendar"] == "XNYS" and as_sessions["closed_bars"] > 10_000
    assert as_sessions["missing_candles"] == as_sessions["gaps"] == 2  # the shipped one + ours
