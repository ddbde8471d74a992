"""window_features: the numpy fast path equals build_features on the rows it computes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import candles_around

from mlpkg.config import SHIPPED_PAIRS, FeatureConfig
from mlpkg.data.sources import find_gaps, load_candles
from mlpkg.errors import CandleValidationError, ConfigError
from mlpkg.features.build import build_features, feature_names, warmup_rows
from mlpkg.features.window import window_features

CONFIG = FeatureConfig()
WARM = warmup_rows(CONFIG)
ROWS = 60  # the serving window


def assert_close(ours: np.ndarray, theirs: np.ndarray, tol: float) -> None:
    """|difference| <= tol x each column's scale (its largest |value|, at least 1)."""
    assert ours.shape == theirs.shape
    scale = np.maximum(1.0, np.abs(theirs).max(axis=0))
    worst = (np.abs(ours - theirs) / scale).max(axis=0)
    names = feature_names(CONFIG) if ours.shape[1] == len(feature_names(CONFIG)) else None
    assert worst.max() <= tol, (names[int(worst.argmax())] if names else "", worst.max())


@pytest.fixture(scope="module", params=SHIPPED_PAIRS)
def shipped(request):
    """(candles, full-history features) of one shipped pair."""
    candles = load_candles(request.param, "shipped")
    return candles, build_features(candles, CONFIG).to_numpy()


def _end_positions(candles: pd.DataFrame) -> list[int]:
    """20 evenly spaced ends, and ends 1, 2 and ROWS candles after each gap in the data."""
    ends = set(np.linspace(WARM + ROWS, len(candles), 20).astype(int))
    gaps = find_gaps(candles)
    assert len(gaps) > 0  # every shipped pair has some
    # gap_end is the last missing open time, so this is the position of the candle after it
    for first_after in candles.index.searchsorted(gaps["gap_end"]):
        ends.update(first_after + k for k in (1, 2, ROWS))
    return sorted(end for end in ends if WARM + ROWS <= end <= len(candles))


def test_window_matches_the_full_history_features_at_many_ends(shipped):
    candles, full = shipped
    for end in _end_positions(candles):
        ours = window_features(candles.iloc[:end], CONFIG, ROWS)
        np.testing.assert_allclose(ours, full[end - ROWS : end], rtol=0.0, atol=1e-9)


def test_window_equals_build_features_on_the_same_candles(shipped):
    candles, _ = shipped
    for end in np.linspace(WARM + ROWS, len(candles), 8).astype(int):
        suffix = candles.iloc[end - WARM - ROWS : end]
        theirs = build_features(suffix, CONFIG).to_numpy()[-ROWS:]
        assert_close(window_features(suffix, CONFIG, ROWS), theirs, tol=1e-12)


def test_window_has_the_columns_of_build_features_in_order(btc_candles):
    custom = FeatureConfig(return_lookbacks=(2, 7, 48), volatility_windows=(24,))
    for config in (CONFIG, custom):
        rows = 3
        ours = window_features(btc_candles, config, rows)
        theirs = build_features(btc_candles, config).to_numpy()[-rows:]
        assert ours.shape == (rows, len(feature_names(config)))
        assert ours.dtype == np.float64
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_window_accepts_arrays_with_open_times_and_any_zone_or_column_order(btc_candles):
    expected = window_features(btc_candles, CONFIG, ROWS)
    values = btc_candles[["open", "high", "low", "close", "volume"]].to_numpy()
    array = window_features(values, CONFIG, ROWS, open_time=btc_candles.index)
    local = window_features(btc_candles.tz_convert("Asia/Kolkata"), CONFIG, ROWS)
    shuffled = btc_candles[["volume", "close", "low", "high", "open"]].assign(extra=1.0)
    np.testing.assert_array_equal(array, expected)
    np.testing.assert_array_equal(local, expected)
    np.testing.assert_array_equal(window_features(shuffled, CONFIG, ROWS), expected)
    np.testing.assert_array_equal(window_features(btc_candles, CONFIG, np.int64(ROWS)), expected)


def test_time_features_use_the_open_time_to_the_minute(btc_candles):
    """Half-hour and quarter-hour open times, in a non-UTC zone, as build_features reads them."""
    candles = btc_candles.iloc[-(WARM + 8) :].copy()
    candles.index = pd.date_range(
        "2024-03-30 22:15", periods=len(candles), freq="45min", tz="Europe/Berlin"
    ).rename("open_time")
    theirs = build_features(candles, CONFIG).to_numpy()[-8:, -4:]
    np.testing.assert_array_equal(window_features(candles, CONFIG, 8)[:, -4:], theirs)


def test_too_few_candles_name_the_number_needed(btc_candles):
    with pytest.raises(CandleValidationError, match=f"at least {WARM + ROWS} candles"):
        window_features(btc_candles.iloc[-(WARM + ROWS - 1) :], CONFIG, ROWS)
    window_features(btc_candles.iloc[-(WARM + ROWS) :], CONFIG, ROWS)  # exactly enough


@pytest.mark.parametrize("rows", [0, -3, 2.5, True])
def test_rows_must_be_a_positive_integer(btc_candles, rows):
    with pytest.raises(ConfigError, match="positive number of feature rows"):
        window_features(btc_candles, CONFIG, rows)


def test_bad_candles_are_rejected_with_a_fix(btc_candles):
    values = btc_candles.to_numpy()
    with pytest.raises(CandleValidationError, match="volume"):
        window_features(btc_candles.drop(columns="volume"), CONFIG, ROWS)
    with pytest.raises(CandleValidationError, match="tz_localize"):
        window_features(btc_candles.tz_localize(None), CONFIG, ROWS)
    with pytest.raises(ConfigError, match="open_time="):
        window_features(values, CONFIG, ROWS)
    with pytest.raises(CandleValidationError, match="one per candle"):
        window_features(values, CONFIG, ROWS, open_time=btc_candles.index[1:])
    with pytest.raises(CandleValidationError, match=r"shape \(n, 5\)"):
        window_features(values[:, :4], CONFIG, ROWS, open_time=btc_candles.index)
    with pytest.raises(ConfigError, match="index"):
        window_features(btc_candles, CONFIG, ROWS, open_time=btc_candles.index)


@st.composite
def rough_candles(draw):
    """Random walks with flat stretches, zero volumes and repeated prices, at any scale."""
    rows = WARM + draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    vol = draw(st.floats(0.0005, 0.05))
    moving = rng.random(rows) > draw(st.floats(0.0, 0.9))
    close = draw(st.sampled_from([1e-4, 1.0, 60_000.0])) * np.exp(
        np.cumsum(rng.normal(0.0, vol, rows) * moving)
    )
    open_ = np.concatenate([[close[0]], close[:-1]])
    return candles_around(
        rng,
        open_,
        close,
        vol=vol,
        wick_share=0.4,
        volume_mean=10.0,
        zero_volume_share=0.3,
        start="2020-02-28 07:30",
    )


@settings(max_examples=25, deadline=None)
@given(rough_candles(), st.integers(1, 30))
def test_window_equals_build_features_on_random_candles(candles, rows):
    rows = min(rows, len(candles) - WARM)
    ours = window_features(candles, CONFIG, rows)
    theirs = build_features(candles, CONFIG).to_numpy()[-rows:]
    assert np.isfinite(ours).all()
    assert_close(ours, theirs, tol=1e-9)


@pytest.mark.parametrize(
    "module", ["mlpkg.features.window", "mlpkg.features.build", "mlpkg.models.inference"]
)
def test_the_serving_feature_path_imports_no_scipy(module):
    """scipy.signal (which imports scipy.stats) cost ~1.6 s of the API's cold start.

    ``mlpkg.models.inference`` is what the serving runtime calls to score a window.
    """
    probe = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'scipy', 'tensorflow'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout
