"""build_features: shape and names, scale-free values, UTC time, warm-up and suffix consistency."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlpkg.config import SHIPPED_PAIRS, FeatureConfig
from mlpkg.data.sources import load_candles
from mlpkg.errors import CandleValidationError
from mlpkg.features.build import (
    EWM_TOLERANCE,
    build_features,
    feature_names,
    settle_rows,
    warmup_rows,
)

CONFIG = FeatureConfig()
WARM = warmup_rows(CONFIG)
SERVING_WINDOW = 60


@pytest.fixture(scope="module")
def btc_features(btc_candles) -> pd.DataFrame:
    return build_features(btc_candles, CONFIG)


def test_build_features_has_at_least_52_unique_lower_snake_float_columns(btc_candles, btc_features):
    names = list(btc_features.columns)
    assert len(names) >= 52
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name) for name in names)
    assert (btc_features.dtypes == "float64").all()
    assert btc_features.index.equals(btc_candles.index)
    assert "rsi_14" in names


@pytest.mark.parametrize(
    "config",
    [CONFIG, FeatureConfig(return_lookbacks=(2, 7, 48), volatility_windows=(24,))],
    ids=["default", "custom"],
)
def test_returns_and_volatility_follow_the_config(btc_candles, config):
    features = build_features(btc_candles, config)
    close = btc_candles["close"]
    warm = warmup_rows(config)
    for lag in config.return_lookbacks:
        expected = (close / close.shift(lag) - 1.0).iloc[warm:]
        np.testing.assert_array_equal(features[f"return_{lag}"].iloc[warm:], expected)
    for window in config.volatility_windows:
        assert f"volatility_{window}" in features.columns
    assert feature_names(config) == list(features.columns)


def test_nan_exactly_in_the_warmup_rows_and_finite_after(btc_full):
    features = build_features(btc_full, CONFIG)
    assert features.iloc[:WARM].isna().all().all()
    assert np.isfinite(features.iloc[WARM:].to_numpy()).all()


def test_features_are_scale_free(btc_candles, btc_features):
    scaled = btc_candles.copy()
    scaled[["open", "high", "low", "close"]] *= 1234.5
    scaled["volume"] *= 0.001
    rescaled = build_features(scaled, CONFIG)
    np.testing.assert_allclose(rescaled.iloc[WARM:], btc_features.iloc[WARM:], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_time_features_use_utc_whatever_the_index_zone(btc_candles, btc_features, zone):
    local = btc_candles.tz_convert(zone)
    features = build_features(local, CONFIG)
    assert features.index.equals(local.index)
    pd.testing.assert_frame_equal(features.tz_convert("UTC"), btc_features)


def test_time_features_encode_utc_hour_and_weekday():
    index = pd.date_range("2024-01-01", periods=WARM + 48, freq="h", tz="UTC", name="open_time")
    candles = pd.DataFrame(1.0, index=index, columns=["open", "high", "low", "close", "volume"])
    features = build_features(candles, CONFIG).iloc[WARM:]
    stamps = features.index
    hour = stamps.hour.to_numpy(dtype=float)
    day = stamps.day_of_week.to_numpy(dtype=float) + hour / 24  # 2024-01-01 is a Monday (0)
    np.testing.assert_allclose(features["hour_sin"], np.sin(2 * np.pi * hour / 24), atol=1e-12)
    np.testing.assert_allclose(features["hour_cos"], np.cos(2 * np.pi * hour / 24), atol=1e-12)
    np.testing.assert_allclose(features["dow_sin"], np.sin(2 * np.pi * day / 7), atol=1e-12)
    np.testing.assert_allclose(features["dow_cos"], np.cos(2 * np.pi * day / 7), atol=1e-12)


def test_settle_rows_bounds_the_seed_weight():
    one = settle_rows(1 / 14)
    two = settle_rows(1 / 14, stages=2)
    assert (13 / 14) ** one <= EWM_TOLERANCE < (13 / 14) ** (one - 1)
    assert two > one
    assert (two + 1) * (13 / 14) ** two <= EWM_TOLERANCE


def test_warmup_covers_the_longest_window_and_grows_with_the_config():
    assert 52 + settle_rows(1 / 14, stages=2) <= WARM
    longer = FeatureConfig(volatility_windows=(10, 500))
    assert warmup_rows(longer) == WARM - 52 + 501


def _suffix_gap(candles: pd.DataFrame, full: pd.DataFrame, end: int) -> pd.Series:
    """Largest |difference| per column on the last rows, features built from a short suffix."""
    recent = candles.iloc[end - (WARM + SERVING_WINDOW) : end]
    served = build_features(recent, CONFIG).iloc[WARM:]
    assert len(served) == SERVING_WINDOW and not served.isna().any().any()
    return (served - full.loc[served.index]).abs().max()


@pytest.mark.parametrize("pair", SHIPPED_PAIRS)
def test_features_on_the_serving_suffix_match_the_full_history(pair):
    candles = load_candles(pair, "shipped")
    full = build_features(candles, CONFIG)
    ends = np.linspace(WARM + SERVING_WINDOW + 500, len(candles), 25).astype(int)
    gaps = pd.concat([_suffix_gap(candles, full, end) for end in ends], axis=1).max(axis=1)
    assert gaps.max() < 1e-6, gaps.sort_values().tail()
    psar_columns = ["psar_distance", "psar_trend", "psar_af"]
    assert (gaps[psar_columns] == 0.0).all()  # the path-dependent SAR re-synchronises exactly


def test_missing_column_or_naive_index_is_rejected(btc_candles):
    with pytest.raises(CandleValidationError, match="volume"):
        build_features(btc_candles.drop(columns="volume"), CONFIG)
    with pytest.raises(CandleValidationError, match="time-zone"):
        build_features(btc_candles.tz_localize(None), CONFIG)


@st.composite
def random_walk_candles(draw):
    rows = WARM + draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    vol = draw(st.floats(0.001, 0.05))
    close = draw(st.sampled_from([0.01, 100.0, 60_000.0])) * np.exp(
        np.cumsum(rng.normal(0.0, vol, rows) * (rng.random(rows) > 0.2))
    )
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, vol / 2, rows)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, vol / 2, rows)))
    volume = rng.exponential(10.0, rows) * (rng.random(rows) > 0.1)
    index = pd.date_range("2020-02-28", periods=rows, freq="h", tz="UTC", name="open_time")
    data = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    return pd.DataFrame(data, index=index)


@settings(max_examples=30, deadline=None)
@given(random_walk_candles())
def test_random_candles_give_nan_only_in_warmup_and_no_infinity(candles):
    features = build_features(candles, CONFIG)
    assert features.iloc[:WARM].isna().all().all()
    assert np.isfinite(features.iloc[WARM:].to_numpy()).all()
    assert features["rsi_14"].iloc[WARM:].between(0.0, 100.0).all()
    assert math.isclose(features["hour_sin"].iloc[-1] ** 2 + features["hour_cos"].iloc[-1] ** 2, 1)


FROZEN = Path(__file__).parent / "data" / "features_before_numpy.csv.gz"
"""Feature values of the pandas implementation that trained the registered models (before the
NumPy kernels): 13 rows of BTC (24/5 config: the 54 + the 2 closure features) and 12 of ETH (a
custom config: other lags, three volatility windows; its first three rows lie in that config's
longer warm-up, NaN), in long form with 17 significant digits."""
FROZEN_CONFIGS = {
    "24/5": FeatureConfig(calendar="24/5"),
    "custom": FeatureConfig(return_lookbacks=(1, 2, 60), volatility_windows=(5, 30, 70)),
}


@pytest.mark.parametrize(("pair", "config"), [("BTC", "24/5"), ("ETH", "custom")])
def test_features_equal_the_values_registered_models_were_trained_with(pair, config):
    """A model trained before the kernels were NumPy still gets its features, within 1e-9."""
    frozen = pd.read_csv(FROZEN, parse_dates=["open_time"])
    frozen = frozen[(frozen["pair"] == pair) & (frozen["config"] == config)]
    expected = frozen.pivot(index="open_time", columns="feature", values="value")
    features = build_features(load_candles(pair, "shipped"), FROZEN_CONFIGS[config])
    assert sorted(features.columns) == sorted(expected.columns)
    ours = features.loc[expected.index, expected.columns]
    assert len(ours) >= 12 and ours.iloc[-8:].notna().all().all()  # NaN only in the warm-up
    np.testing.assert_allclose(ours.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-9)
