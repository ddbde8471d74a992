"""The replay clock, the closed-candle rule, the interval check and the replay source."""

from __future__ import annotations

import pandas as pd
import pytest

from mlpkg.config import Settings, parse_duration
from mlpkg.data.replay import ReplayClock, WallClock, closed_candles, holdout_share_start
from mlpkg.data.schema import check_interval, format_interval
from mlpkg.data.sources import load_candles
from mlpkg.errors import CandleIntervalError, ConfigError

HOUR = pd.Timedelta(hours=1)


class FakeMonotonic:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_replay_clock_runs_speed_times_faster_from_its_start():
    wall = FakeMonotonic()
    clock = ReplayClock(3600, monotonic=wall)
    assert not clock.started
    with pytest.raises(ConfigError, match="has not started"):
        clock.now()
    clock.start(pd.Timestamp("2019-07-01 00:00"))
    assert clock.now() == pd.Timestamp("2019-07-01 00:00", tz="UTC")
    wall.now += 2.5
    assert clock.now() == pd.Timestamp("2019-07-01 02:30", tz="UTC")
    assert clock.wall_seconds(pd.Timedelta(hours=3)) == 3.0
    assert clock.mode == "replay" and clock.origin == pd.Timestamp("2019-07-01", tz="UTC")


@pytest.mark.parametrize("speed", [0, -1, float("nan"), float("inf")])
def test_replay_speed_must_be_positive_and_finite(speed):
    with pytest.raises(ConfigError, match="MLPKG_REPLAY_SPEED"):
        ReplayClock(speed)


def test_wall_clock_is_utc_now():
    before = pd.Timestamp.now(tz="UTC")
    now = WallClock().now()
    assert before - pd.Timedelta(seconds=1) <= now <= pd.Timestamp.now(tz="UTC")
    assert WallClock().wall_seconds(HOUR) == 3600.0


def test_a_candle_is_used_only_once_it_has_closed(btc_candles):
    candles = btc_candles.iloc[:10]
    open_ = candles.index
    # The 5th candle closes at open_[4] + 1 h: one microsecond before, it is still forming.
    just_before = open_[4] + HOUR - pd.Timedelta(microseconds=1)
    assert closed_candles(candles, just_before, HOUR).index[-1] == open_[3]
    assert closed_candles(candles, open_[4] + HOUR, HOUR).index[-1] == open_[4]
    assert closed_candles(candles, open_[0], HOUR).empty
    assert closed_candles(candles, open_[-1] + 2 * HOUR, HOUR) is candles
    nanos = pd.Timestamp(open_[4] + HOUR) + pd.Timedelta(nanoseconds=7)  # finer than the index
    assert closed_candles(candles, nanos, HOUR).index[-1] == open_[4]


def test_holdout_share_start_is_where_the_last_share_begins():
    index = pd.date_range("2024-01-01", periods=100, freq="h", tz="UTC")
    assert holdout_share_start(index, 0.2) == index[80]
    with pytest.raises(ConfigError):
        holdout_share_start(index[:0], 0.2)


def test_an_interval_other_than_the_models_is_refused():
    check_interval(HOUR, pd.Timedelta(minutes=60), origin="file BTC")
    with pytest.raises(CandleIntervalError) as err:
        check_interval(pd.Timedelta(minutes=5), HOUR, origin="The file source of BTC")
    message = str(err.value)
    assert "candles of 5 min but the model was trained on candles of 1 h" in message
    assert "resample the data" in message
    assert [format_interval(pd.Timedelta(s)) for s in ("1D", "90s", "15min", "2h")] == [
        "1 d",
        "90 s",
        "15 min",
        "2 h",
    ]


def test_replay_source_reads_the_shipped_or_file_base(tmp_path, btc_full):
    shipped = load_candles("BTC", "replay", Settings(replay_from="shipped"))
    assert len(shipped) == len(btc_full)
    btc_full.iloc[:50].rename_axis("open_time").to_csv(tmp_path / "BTC.csv")
    settings = Settings(home=tmp_path, data_dir=tmp_path, replay_from="file")
    assert len(load_candles("BTC", "replay", settings)) == 50


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h", 86400.0),
        ("30m", 1800.0),
        ("90s", 90.0),
        ("7d", 604800.0),
        ("3600", 3600.0),
        ("", None),
        ("off", None),
        ("0", None),
        (None, None),
    ],
)
def test_durations_parse_to_seconds_or_off(text, seconds):
    assert parse_duration(text, "X") == seconds


def test_bad_retrain_settings_say_how_to_write_a_duration():
    with pytest.raises(ValueError, match=r"use e\.g\. 24h, 30m"):
        Settings(retrain_every="soon")
    assert Settings(retrain_every="12h", retrain_cooldown="off").retrain_cooldown == 0.0
