"""The look-ahead check: every feature passes it exactly, and leaky builders are caught."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpkg.config import FeatureConfig
from mlpkg.features.build import build_features, warmup_rows
from mlpkg.features.labels import make_labels
from mlpkg.features.lookahead import VIOLATION_COLUMNS, lookahead_violations

CONFIG = FeatureConfig()
CUTOFFS = [100, warmup_rows(CONFIG) + 1, 600, 777, 1000, 1250, 1499]


def _build(candles: pd.DataFrame) -> pd.DataFrame:
    return build_features(candles, CONFIG)


def test_every_feature_is_exactly_truncation_invariant(btc_candles):
    violations = lookahead_violations(_build, btc_candles, CUTOFFS, atol=0.0)
    assert violations.empty, violations
    assert list(violations.columns) == list(VIOLATION_COLUMNS)


def test_truncation_invariance_holds_for_a_custom_config(btc_candles):
    config = FeatureConfig(return_lookbacks=(1, 24, 72), volatility_windows=(5, 100, 200))
    violations = lookahead_violations(
        lambda c: build_features(c, config), btc_candles, [700, 1111, 1400], atol=0.0
    )
    assert violations.empty, violations


def _with_leaks(candles: pd.DataFrame) -> pd.DataFrame:
    features = _build(candles)
    close = candles["close"]
    features["next_close_ratio"] = close.shift(-1) / close  # uses close[t+1]
    features["centred_mean_9"] = close.rolling(9, center=True).mean() / close  # t-4 .. t+4
    features["full_sample_zscore"] = (close - close.mean()) / close.std()  # whole history
    return features


def test_leaky_builder_is_caught_and_each_leak_named(btc_candles):
    cutoffs = [600, 1000]
    violations = lookahead_violations(_with_leaks, btc_candles, cutoffs)
    assert set(violations["column"]) == {"next_close_ratio", "centred_mean_9", "full_sample_zscore"}
    by_column = violations.set_index(["column", "cutoff"])
    for cutoff in cutoffs:
        assert by_column.loc[("next_close_ratio", cutoff), "n_changed"] == 1
        assert by_column.loc[("centred_mean_9", cutoff), "n_changed"] == 4
        last_rows = btc_candles.index[cutoff - 4]
        assert by_column.loc[("centred_mean_9", cutoff), "first_changed"] == last_rows
        assert by_column.loc[("full_sample_zscore", cutoff), "n_changed"] == cutoff


def test_tolerance_separates_rounding_noise_from_leaks(btc_candles):
    def noisy(candles):
        return pd.DataFrame({"x": candles["close"] * (1 + 1e-15 * len(candles))})

    assert lookahead_violations(noisy, btc_candles, [500], atol=1e-6).empty
    exact = lookahead_violations(noisy, btc_candles, [500], atol=0.0)
    assert list(exact["column"]) == ["x"] and exact["max_abs_diff"].iloc[0] > 0.0


def test_a_column_missing_from_the_truncated_result_is_reported(btc_candles):
    def shrinking(candles):
        frame = pd.DataFrame({"a": candles["close"]})
        if len(candles) == len(btc_candles):
            frame["only_on_full_history"] = 1.0
        return frame

    violations = lookahead_violations(shrinking, btc_candles, [300])
    assert violations["column"].tolist() == ["only_on_full_history"]
    assert violations["n_changed"].iloc[0] == 300


def test_labels_are_flagged_as_forward_looking(btc_candles):
    def labels(candles):
        return make_labels(candles["close"], (1, 5))

    violations = lookahead_violations(labels, btc_candles, [800])
    counts = dict(zip(violations["column"], violations["n_changed"], strict=True))
    assert counts == {
        "direction_1": 1,
        "future_return_1": 1,
        "direction_5": 5,
        "future_return_5": 5,
    }
    assert np.isnan(violations["max_abs_diff"]).all()  # a value became NaN (the future is unknown)
