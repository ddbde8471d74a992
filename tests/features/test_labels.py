"""Labels: exact values on a hand-made series, NaN tail, ties count as down."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import ConfigError
from mlpkg.features.labels import make_labels

NAN = np.nan


@pytest.fixture
def close() -> pd.Series:
    index = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC", name="open_time")
    return pd.Series([1.0, 2.0, 2.0, 1.0, 3.0], index=index, name="close")


def test_labels_on_a_hand_made_series(close):
    labels = make_labels(close, (1, 2))
    assert list(labels.columns) == [
        "direction_1",
        "future_return_1",
        "direction_2",
        "future_return_2",
    ]
    assert labels.index.equals(close.index)
    assert (labels.dtypes == "float64").all()
    np.testing.assert_array_equal(labels["direction_1"], [1.0, 0.0, 0.0, 1.0, NAN])
    np.testing.assert_allclose(labels["future_return_1"], [1.0, 0.0, -0.5, 2.0, NAN])
    np.testing.assert_array_equal(labels["direction_2"], [1.0, 0.0, 1.0, NAN, NAN])
    np.testing.assert_allclose(labels["future_return_2"], [1.0, -0.5, 0.5, NAN, NAN])


def test_a_tie_counts_as_down(close):
    labels = make_labels(close, (1,))
    assert close.iloc[2] == close.iloc[1]
    assert labels["direction_1"].iloc[1] == 0.0
    assert labels["future_return_1"].iloc[1] == 0.0


@pytest.mark.parametrize("horizon", [1, 3, 5])
def test_the_last_h_rows_are_nan_and_the_rest_defined(btc_candles, horizon):
    labels = make_labels(btc_candles["close"], (horizon,))
    assert labels.iloc[-horizon:].isna().all().all()
    assert labels.iloc[:-horizon].notna().all().all()
    assert set(labels[f"direction_{horizon}"].dropna().unique()) <= {0.0, 1.0}


def test_numpy_integer_horizons_are_accepted(close):
    assert list(make_labels(close, [np.int64(1)]).columns) == ["direction_1", "future_return_1"]


@pytest.mark.parametrize("horizon", [0, -1, 1.5, True])
def test_invalid_horizon_is_rejected(close, horizon):
    with pytest.raises(ConfigError, match="positive whole number"):
        make_labels(close, (horizon,))


def test_labels_use_clock_time_and_drop_those_spanning_missing_candles():
    times = pd.DatetimeIndex(
        [
            "2024-01-01 00:00",
            "2024-01-01 01:00",
            "2024-01-01 02:00",  # 03:00 and 04:00 missing
            "2024-01-01 05:00",
            "2024-01-01 06:00",
            "2024-01-01 07:00",
        ],
        tz="UTC",
        name="open_time",
    )
    close = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], index=times)

    labels = make_labels(close, (1,), pd.Timedelta(hours=1))

    # 02:00 -> 03:00 does not exist: NaN, not the 05:00 close three hours later.
    np.testing.assert_array_equal(labels["direction_1"], [1.0, 1.0, NAN, 1.0, 1.0, NAN])
    assert labels["future_return_1"].iloc[3] == pytest.approx(5.0 / 4.0 - 1.0)


def test_interval_is_inferred_when_not_given(close):
    assert make_labels(close, (1,)).equals(make_labels(close, (1,), pd.Timedelta(hours=1)))


def test_complete_windows_flags_rows_whose_window_spans_a_gap():
    from mlpkg.features.labels import complete_windows

    times = pd.DatetimeIndex(
        pd.to_datetime(
            ["00:00", "01:00", "02:00", "05:00", "06:00", "07:00", "08:00"], format="%H:%M"
        ).map(lambda t: t.replace(year=2024)),
        tz="UTC",
    )
    complete = complete_windows(times, pd.Timedelta(hours=1), 3)
    np.testing.assert_array_equal(complete, [False, False, True, False, False, True, True])
    assert complete_windows(times, pd.Timedelta(hours=1), 1).all()
