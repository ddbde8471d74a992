"""The NumPy building blocks: EWMs as pandas computes them, windows that never read ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlpkg.features.rolling import (
    EWM_BLOCK,
    ewm,
    lagged,
    rolling_max,
    rolling_mean,
    rolling_min,
    stds,
    tail,
    windows,
)


@pytest.fixture(scope="module")
def closes(btc_full):
    return btc_full["close"].to_numpy(dtype="float64")


@pytest.mark.parametrize("alpha", [1 / 14, 2 / 13, 2 / 27, 0.2, 1.0])
def test_ewm_equals_pandas_adjust_false(closes, alpha):
    ours = ewm(closes, alpha, min_periods=9)
    theirs = pd.Series(closes).ewm(alpha=alpha, adjust=False, min_periods=9).mean().to_numpy()
    assert np.isnan(ours[:8]).all() and np.isfinite(ours[8:]).all()
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)


def test_ewm_smooths_each_column_of_a_matrix_alone(closes):
    matrix = np.column_stack([closes, -2.0 * closes[::-1], np.zeros(len(closes))])
    together = ewm(matrix, 0.1)
    for column in range(3):
        assert np.array_equal(together[:, column], ewm(matrix[:, column].copy(), 0.1))


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, 3 * EWM_BLOCK + 5),
    st.integers(0, 3 * EWM_BLOCK + 5),
    st.sampled_from([1 / 14, 0.2, 0.9]),
)
def test_ewm_of_a_prefix_is_bit_for_bit_its_full_history_value(cut, extra, alpha):
    """Row t never depends on rows after t, whichever block boundary the prefix ends on."""
    values = np.random.default_rng(cut + 7 * extra).normal(100.0, 5.0, cut + extra)
    assert np.array_equal(ewm(values[:cut], alpha), ewm(values, alpha)[:cut])


def test_ewm_of_nothing_and_of_one_row():
    assert ewm(np.empty(0), 0.5).shape == (0,)
    assert ewm(np.empty((0, 3)), 0.5).shape == (0, 3)
    assert ewm(np.array([4.0]), 0.5).tolist() == [4.0]


def test_tail_and_lagged_pad_with_nan_before_the_first_row():
    values = np.arange(1.0, 5.0)
    assert np.array_equal(tail(values, 2), [3.0, 4.0])
    np.testing.assert_array_equal(tail(values, 6), [np.nan, np.nan, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(lagged(values, 1, 4), [np.nan, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(lagged(values, 9, 2), [np.nan, np.nan])


def test_windows_are_the_trailing_values_of_each_row():
    values = np.arange(1.0, 6.0)
    np.testing.assert_array_equal(windows(values, 3, 2), [[2.0, 3.0, 4.0], [3.0, 4.0, 5.0]])
    np.testing.assert_array_equal(windows(values, 3, 5)[1], [np.nan, 1.0, 2.0])
    assert not windows(values, 3, 2).flags.writeable


@pytest.mark.parametrize("rows", [5, 30, 2000])
def test_rolling_extremes_and_means_equal_pandas(closes, rows):
    """Few rows (one reduction) and many rows (one pass per lag) give pandas' values."""
    series = pd.Series(closes)
    for window in (3, 20, 52):
        highest = series.rolling(window).max().to_numpy()[-rows:]
        lowest = series.rolling(window).min().to_numpy()[-rows:]
        assert np.array_equal(rolling_max(closes, window, rows), highest)
        assert np.array_equal(rolling_min(closes, window, rows), lowest)
        mean = series.rolling(window).mean().to_numpy()[-rows:]
        np.testing.assert_allclose(rolling_mean(closes, window, rows), mean, rtol=1e-12)


def test_stds_equal_pandas_and_are_exactly_zero_on_a_flat_window(btc_candles):
    """On 1,500 rows; over the whole history pandas' running update drifts by up to 1e-7."""
    closes = btc_candles["close"].to_numpy(dtype="float64")
    ours = stds(windows(closes, 20, len(closes)), ddof=0)
    theirs = pd.Series(closes).rolling(20).std(ddof=0).to_numpy()
    np.testing.assert_allclose(ours[19:], theirs[19:], rtol=1e-9)
    assert np.isnan(ours[:19]).all()
    flat = np.concatenate([closes[:30], np.full(20, closes[29])])
    assert stds(windows(flat, 20, 1), ddof=1)[0] == 0.0
