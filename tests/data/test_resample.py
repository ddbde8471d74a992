"""Resampling to a run's interval along the calendar's sessions, and refusing coarser candles."""

from __future__ import annotations

import pandas as pd
import pytest
from sessions import session_shaped

from mlpkg.config import FeatureConfig
from mlpkg.data.calendars import get_calendar
from mlpkg.data.resample import session_candles, to_interval
from mlpkg.errors import CalendarError


def test_a_daily_equity_bar_is_its_session_half_day_included(btc_full):
    hourly = session_shaped(btc_full.loc["2018-11-19":"2018-11-27"], "XNYS")
    daily = to_interval(hourly, pd.Timedelta(days=1), get_calendar("XNYS"), origin="t")
    friday = hourly.loc["2018-11-23"]
    assert len(friday) == 4
    assert "2018-11-22" not in daily.index.strftime("%Y-%m-%d")
    row = daily.loc[pd.Timestamp("2018-11-23", tz="UTC")]
    assert row["open"] == friday["open"].iloc[0] and row["close"] == friday["close"].iloc[-1]
    assert row["high"] == friday["high"].max() and row["low"] == friday["low"].min()
    assert row["volume"] == pytest.approx(friday["volume"].sum())


def test_four_hour_bars_start_at_the_session_open(btc_full):
    hourly = session_shaped(btc_full.loc["2018-11-19":"2018-11-22"], "XNYS")
    bars = to_interval(hourly, pd.Timedelta(hours=4), get_calendar("XNYS"), origin="t")
    assert bars.loc["2018-11-20"].index.hour.tolist() == [14, 18]  # 14:00-18:00, 18:00-21:00


def test_a_fx_four_hour_week_starts_sunday_22(btc_full):
    hourly = session_shaped(btc_full.loc["2018-11-23":"2018-11-27"], "24/5")
    bars = to_interval(hourly, pd.Timedelta(hours=4), get_calendar("24/5"), origin="t")
    assert pd.Timestamp("2018-11-25 22:00", tz="UTC") in bars.index
    assert not (bars.index.day_of_week == 5).any()  # nothing on Saturday


def test_the_unfinished_last_bar_is_dropped(btc_candles):
    hourly = btc_candles.iloc[:-2]  # ends at 21:00: the 20:00 4h bar lacks its last 2 hours
    bars = to_interval(hourly, pd.Timedelta(hours=4), get_calendar("24/7"), origin="t")
    assert bars.index[-1] + pd.Timedelta(hours=4) <= hourly.index[-1] + pd.Timedelta(hours=1)


def test_coarser_candles_are_refused(btc_candles):
    daily = to_interval(btc_candles, pd.Timedelta(days=1), get_calendar("24/7"), origin="t")
    with pytest.raises(CalendarError, match="file BTC has candles of 1 d; they cannot make"):
        to_interval(daily, pd.Timedelta(hours=1), get_calendar("24/7"), origin="file BTC")


def test_candles_outside_the_sessions_are_refused_by_name(btc_candles):
    with pytest.raises(CalendarError, match="not trading bars of calendar XNYS"):
        session_candles(btc_candles, FeatureConfig(calendar="XNYS"), origin="SPY")
