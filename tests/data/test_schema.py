"""The candle frame contract: validation errors name the problem, gaps are reported exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.data.schema import (
    CANDLE_COLUMNS,
    fill_gaps,
    find_gaps,
    infer_frequency,
    validate_candles,
)
from mlpkg.errors import CandleValidationError


def make_candles(n: int = 6, start: str = "2020-01-01", freq: str = "1h") -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="open_time")
    close = 100.0 + np.arange(n, dtype="float64")
    return pd.DataFrame(
        {
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(n, 10.0),
        },
        index=index,
    )


def test_valid_candles_pass_unchanged():
    candles = make_candles()
    result = validate_candles(candles)
    pd.testing.assert_frame_equal(result, candles)
    assert result is not candles
    assert list(result.columns) == list(CANDLE_COLUMNS)


def test_shipped_btc_slice_passes_unchanged(btc_candles):
    result = validate_candles(btc_candles)
    pd.testing.assert_frame_equal(result, btc_candles, check_names=False)
    assert result.index.name == "open_time"


def test_validation_reorders_columns_converts_to_float_and_utc():
    candles = make_candles()
    shuffled = candles[["close", "volume", "open", "low", "high"]].astype({"volume": "int64"})
    shuffled.index = candles.index.tz_convert("America/New_York").rename("time")
    result = validate_candles(shuffled)
    pd.testing.assert_frame_equal(result, candles)
    assert str(result.index.tz) == "UTC"


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["open", "high", "low", "close"], "missing: volume"),
        (["open", "high", "low", "close", "volume", "trades"], "unexpected or repeated: trades"),
    ],
)
def test_wrong_columns_are_rejected_with_the_column_named(columns, expected):
    frame = make_candles().assign(trades=1.0)[columns]
    with pytest.raises(CandleValidationError, match=expected) as err:
        validate_candles(frame, origin="my.csv")
    assert str(err.value).startswith("my.csv:")


def test_empty_frame_is_rejected():
    with pytest.raises(CandleValidationError, match="empty"):
        validate_candles(make_candles().iloc[:0])


def test_non_datetime_index_is_rejected_with_the_fix():
    frame = make_candles().reset_index(drop=True)
    with pytest.raises(CandleValidationError, match=r"DatetimeIndex.*pd\.to_datetime"):
        validate_candles(frame)


def test_naive_index_is_rejected_with_the_fix():
    frame = make_candles()
    frame.index = frame.index.tz_localize(None)
    with pytest.raises(CandleValidationError, match=r"naive.*tz_localize\('UTC'\)"):
        validate_candles(frame)


def test_unsorted_timestamps_name_the_row():
    frame = make_candles()
    frame = frame.iloc[[0, 1, 3, 2, 4, 5]]
    with pytest.raises(CandleValidationError, match="not sorted") as err:
        validate_candles(frame)
    message = str(err.value)
    assert "row 3 (open_time 2020-01-01 02:00:00+00:00)" in message
    assert "sort_index" in message


def test_duplicate_timestamps_name_both_rows():
    frame = make_candles()
    frame = pd.concat([frame.iloc[:3], frame.iloc[[2]], frame.iloc[3:]])
    with pytest.raises(CandleValidationError, match="duplicate") as err:
        validate_candles(frame)
    assert "row 3 (open_time 2020-01-01 02:00:00+00:00), already at row 2" in str(err.value)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_the_column_and_row(value):
    frame = make_candles()
    frame.iloc[4, frame.columns.get_loc("volume")] = value
    with pytest.raises(CandleValidationError) as err:
        validate_candles(frame, origin="core /api/pair/BTC")
    message = str(err.value)
    assert message.startswith("core /api/pair/BTC:")
    assert "column 'volume'" in message
    assert "row 4 (open_time 2020-01-01 04:00:00+00:00)" in message


def test_non_numeric_value_names_the_column_and_row():
    frame = make_candles().astype({"close": object})
    frame.iloc[1, frame.columns.get_loc("close")] = "n/a"
    with pytest.raises(CandleValidationError, match=r"column 'close'.*'n/a'.*row 1"):
        validate_candles(frame)


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
def test_non_positive_prices_are_rejected(column):
    frame = make_candles()
    frame.loc[frame.index[2], ["open", "high", "low", "close"]] = 1.0
    frame.loc[frame.index[2], column] = 0.0 if column != "high" else -1.0
    with pytest.raises(CandleValidationError, match=rf"column '{column}'.*non-positive.*row 2"):
        validate_candles(frame)


def test_high_below_the_body_is_rejected():
    frame = make_candles()
    frame.loc[frame.index[1], "high"] = frame["close"].iloc[1] - 0.1
    with pytest.raises(
        CandleValidationError, match=r"column 'high'.*below max\(open, close\).*row 1"
    ):
        validate_candles(frame)


def test_low_above_the_body_is_rejected():
    frame = make_candles()
    frame.loc[frame.index[5], "low"] = frame["open"].iloc[5] + 0.1
    with pytest.raises(
        CandleValidationError, match=r"column 'low'.*above min\(open, close\).*row 5"
    ):
        validate_candles(frame)


def test_negative_volume_is_rejected_but_zero_volume_is_fine():
    frame = make_candles()
    frame.loc[frame.index[0], "volume"] = 0.0
    assert validate_candles(frame)["volume"].iloc[0] == 0.0
    frame.loc[frame.index[3], "volume"] = -1.0
    with pytest.raises(CandleValidationError, match=r"column 'volume'.*negative.*row 3"):
        validate_candles(frame)


def test_infer_frequency_returns_the_most_common_step():
    frame = make_candles(10, freq="15min").drop(index=make_candles(10, freq="15min").index[[3, 4]])
    assert infer_frequency(frame.index) == pd.Timedelta("15min")


def test_infer_frequency_needs_two_rows():
    with pytest.raises(CandleValidationError, match="at least 2"):
        infer_frequency(make_candles(1).index)


def test_find_gaps_reports_each_run_of_missing_candles():
    full = make_candles(12)
    frame = full.drop(index=full.index[[2, 3, 4, 8]])
    gaps = find_gaps(frame)
    expected = pd.DataFrame(
        {
            "gap_start": pd.to_datetime(["2020-01-01 02:00", "2020-01-01 08:00"], utc=True),
            "gap_end": pd.to_datetime(["2020-01-01 04:00", "2020-01-01 08:00"], utc=True),
            "missing_candles": np.array([3, 1], dtype="int64"),
        }
    )
    pd.testing.assert_frame_equal(gaps, expected, check_index_type=False)


def test_find_gaps_uses_the_given_interval():
    frame = make_candles(4, freq="2h")
    gaps = find_gaps(frame, pd.Timedelta("1h"))
    assert gaps["missing_candles"].tolist() == [1, 1, 1]
    assert gaps["gap_start"].iloc[0] == pd.Timestamp("2020-01-01 01:00", tz="UTC")


def test_find_gaps_is_empty_without_gaps():
    gaps = find_gaps(make_candles())
    assert gaps.empty
    assert list(gaps.columns) == ["gap_start", "gap_end", "missing_candles"]


def test_find_gaps_on_shipped_btc(btc_full):
    gaps = find_gaps(btc_full)
    assert len(gaps) == 4
    assert gaps["missing_candles"].tolist() == [2, 1, 2, 2]
    assert gaps["gap_start"].iloc[0] == pd.Timestamp("2019-01-07 11:00", tz="UTC")
    expected_rows = (btc_full.index[-1] - btc_full.index[0]) // pd.Timedelta("1h") + 1
    assert len(btc_full) + gaps["missing_candles"].sum() == expected_rows


def test_fill_gaps_inserts_flat_zero_volume_candles():
    full = make_candles(8)
    frame = full.drop(index=full.index[[3, 4]])
    filled = fill_gaps(frame)
    assert filled.index.equals(full.index)
    inserted = filled.loc[full.index[[3, 4]]]
    previous_close = frame["close"].loc[full.index[2]]
    assert (inserted[["open", "high", "low", "close"]] == previous_close).all().all()
    assert (inserted["volume"] == 0.0).all()
    pd.testing.assert_frame_equal(filled.loc[frame.index], frame)
    pd.testing.assert_frame_equal(validate_candles(filled), filled)


def test_fill_gaps_is_explicit_only(btc_full):
    assert len(find_gaps(btc_full)) > 0, "shipped BTC keeps its gaps unless filled on request"
    filled = fill_gaps(btc_full)
    assert find_gaps(filled).empty
    assert len(filled) == len(btc_full) + 7
    pd.testing.assert_frame_equal(fill_gaps(make_candles()), make_candles())
