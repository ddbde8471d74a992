"""Cross-asset features: aligned on the same closed candles, gaps kept, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import read_shipped_file

from mlpkg.config import SHIPPED_PAIRS, FeatureConfig
from mlpkg.errors import CandleValidationError, ConfigError
from mlpkg.features.build import build_features, feature_names, warmup_rows
from mlpkg.features.columns import LONGEST_WINDOW
from mlpkg.features.cross_asset import (
    CROSS_LOOKBACK,
    cross_asset_values,
    cross_feature_names,
    reference_pairs,
)
from mlpkg.features.lookahead import lookahead_violations
from mlpkg.features.window import window_features

CONFIG = FeatureConfig(cross_assets=("BTC", "market"))


@pytest.fixture(scope="module")
def shipped() -> dict[str, pd.DataFrame]:
    """The last 1,500 candles of every shipped pair (same hours, a few gaps each)."""
    return {pair: read_shipped_file(pair).iloc[-1500:] for pair in SHIPPED_PAIRS}


def _truncated(references: dict[str, pd.DataFrame], end: pd.Timestamp) -> dict:
    return {pair: frame.loc[:end] for pair, frame in references.items()}


def test_names_values_and_the_equal_weight_market(shipped):
    ltc = shipped["LTC"]
    features = build_features(ltc, CONFIG, shipped)
    assert list(features.columns) == feature_names(CONFIG)
    assert features.columns[-8:].tolist() == cross_feature_names(CONFIG)
    t = features.index[1000]
    btc_close = shipped["BTC"]["close"]
    assert features.loc[t, "btc_return_1"] == pytest.approx(
        btc_close.loc[t] / btc_close.loc[features.index[999]] - 1.0, rel=1e-9
    )
    one_candle = [
        shipped[p]["close"].loc[t] / shipped[p]["close"].loc[features.index[999]] - 1.0
        for p in SHIPPED_PAIRS
    ]
    assert features.loc[t, "market_return_1"] == pytest.approx(np.mean(one_candle), rel=1e-9)
    assert reference_pairs(CONFIG) == SHIPPED_PAIRS  # BTC once, then the market's pairs
    assert CROSS_LOOKBACK <= LONGEST_WINDOW  # covered by the warm-up


def test_a_missing_reference_candle_is_a_gap_not_a_fill(shipped):
    ltc = shipped["LTC"]
    hole = ltc.index[900]
    references = {**shipped, "BTC": shipped["BTC"].drop(index=hole)}
    features = build_features(ltc, CONFIG, references)
    position = ltc.index.get_loc(hole)
    btc = features["btc_return_20"].to_numpy()
    # Every row whose 20-row return reads the missing close is NaN, and only those.
    assert np.isnan(btc[position : position + 21]).all()
    assert np.isfinite(btc[warmup_rows(CONFIG) : position]).all()
    assert np.isfinite(btc[position + 21 :]).all()
    # The market needs every pair: its one-candle return is missing at and right after the hole.
    assert np.isnan(features["market_return_1"].to_numpy()[position : position + 2]).all()


def test_cross_asset_features_are_prefix_invariant(shipped):
    ltc = shipped["LTC"]

    def build(candles: pd.DataFrame) -> pd.DataFrame:
        return build_features(candles, CONFIG, _truncated(shipped, candles.index[-1]))

    cutoffs = [warmup_rows(CONFIG) + 1, 777, 1000, 1499]
    violations = lookahead_violations(build, ltc, cutoffs, atol=0.0)
    assert violations.empty, violations


def test_a_leaky_reference_alignment_is_caught(shipped):
    ltc = shipped["LTC"]

    def leaky(candles: pd.DataFrame) -> pd.DataFrame:
        # Aligns each row with the reference's *next* candle: reads the future.
        known = _truncated(shipped, candles.index[-1])
        return build_features(candles, CONFIG, {p: f.shift(-1).dropna() for p, f in known.items()})

    violations = lookahead_violations(leaky, ltc, [800, 1200], atol=0.0)
    assert {"btc_return_1", "market_return_1"} <= set(violations["column"])


def test_the_serving_window_equals_the_full_history_features(shipped):
    ltc = shipped["LTC"].iloc[:1200]
    full = build_features(ltc, CONFIG, shipped).to_numpy()
    # One window of each reference (the serving feed's) is enough.
    window = {
        p: f.loc[: ltc.index[-1]].iloc[-(warmup_rows(CONFIG) + 8) :] for p, f in shipped.items()
    }
    values = window_features(ltc, CONFIG, 8, references=window)
    np.testing.assert_allclose(values, full[-8:], rtol=0, atol=1e-9)


def test_the_serving_window_refuses_a_missing_reference_candle(shipped):
    ltc = shipped["LTC"].iloc[:1200]
    references = {**shipped, "ETH": shipped["ETH"].drop(index=ltc.index[-1])}
    with pytest.raises(CandleValidationError, match="missing at or before"):
        window_features(ltc, CONFIG, 8, references=references)


def test_a_reference_not_given_is_a_clear_error(shipped):
    with pytest.raises(ConfigError, match=r"needs the candles of \['BTC'\]"):
        cross_asset_values(pd.DatetimeIndex(shipped["LTC"].index), {}, CONFIG)


def test_the_config_parses_assets_and_rejects_a_short_market():
    config = FeatureConfig(cross_assets="btc_usdt, Market")
    assert config.cross_assets == ("BTC", "market")
    with pytest.raises(ValueError, match="at least two pairs"):
        FeatureConfig(market_pairs=("BTC",))
    assert FeatureConfig().cross_assets == ()
    assert feature_names(FeatureConfig()) == feature_names(FeatureConfig(market_pairs="BTC,ETH"))


def test_references_are_put_on_the_runs_interval_and_the_pairs_bars_before_alignment(shipped):
    from mlpkg.config import RunConfig
    from mlpkg.data.calendars import get_calendar
    from mlpkg.data.resample import reference_candles
    from mlpkg.pipelines.dataset import build_dataset

    config = RunConfig.from_flat(pair="LTC", interval="4h", cross_assets="BTC", calendar="24/7")
    hourly = {pair: read_shipped_file(pair).iloc[-6000:] for pair in ("LTC", "BTC")}
    dataset = build_dataset(hourly["LTC"], config, {"BTC": hourly["BTC"]})
    reference = dataset.references["BTC"]
    assert (np.diff(reference.index.asi8) % pd.Timedelta("4h").value == 0).all()
    # BTC's 4 h close is the close of its bar's last hour; the one-bar return is between bars.
    close = hourly["BTC"]["close"].resample("4h").last()
    expected = (close / close.shift(1) - 1).reindex(dataset.X.index)
    got = dataset.X["btc_return_1"]
    both = dataset.y.notna() & expected.notna()
    assert both.sum() > 500
    np.testing.assert_allclose(got[both], expected[both], rtol=1e-9, atol=1e-12)
    # Beside an exchange-traded pair, a crypto reference keeps only the pair's trading bars.
    xnys = FeatureConfig(calendar="XNYS", cross_assets=("BTC",))
    kept = reference_candles(hourly["BTC"], xnys, origin="BTC")
    ordinals = get_calendar("XNYS").bar_ordinals(pd.DatetimeIndex(kept.index), pd.Timedelta("1h"))
    assert 0 < len(kept) < len(hourly["BTC"]) and np.isfinite(ordinals).all()
