"""The backtest's accounting: tranches, costs, metrics beside buy-and-hold and flat."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.backtest import (
    Costs,
    compare_returns,
    format_backtest,
    held_positions,
    net_returns,
    run_backtest,
    signal_positions,
)
from mlpkg.models.signals import SignalPolicy, describe_prediction


def _times(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC", name="open_time")


def test_h_step_signals_are_held_as_overlapping_tranches():
    signals = np.array([1.0, 1.0, 0.0, -1.0, 0.0, 0.0])
    assert np.allclose(held_positions(signals, 1), signals)
    assert np.allclose(held_positions(signals, 3), [1 / 3, 2 / 3, 2 / 3, 0.0, -1 / 3, -1 / 3])


def test_every_position_change_pays_the_fee_entry_flip_and_final_exit():
    held = np.array([1.0, -1.0, -1.0])
    r = np.array([0.01, -0.02, 0.0])
    net = net_returns(held, r, rate=0.001)
    # Entry 1 unit, flip 2 units, then the exit of 1 unit after the last candle.
    assert np.allclose(net, [0.01 - 0.001, 0.02 - 0.002, 0.0 - 0.001])


def test_signal_positions_agree_with_the_served_signal_of_each_probability():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 500)
    for mode in ("long_flat", "long_short"):
        policy = SignalPolicy(normal=0.2, strong=0.6, mode=mode)
        expected = [
            policy.position(describe_prediction(x, strong=0.6, normal=0.2).signal) for x in p
        ]
        assert np.allclose(signal_positions(p, policy), expected)


def test_an_oracle_beats_buy_and_hold_and_flat_earns_nothing():
    rng = np.random.default_rng(1)
    r = rng.normal(0.0, 0.01, 2000)
    oracle = np.where(r > 0, 0.99, 0.01)
    policy = SignalPolicy(normal=0.0, strong=0.0, mode="long_short")
    result = run_backtest(_times(len(r)), oracle, r, policy, Costs(fee_bps=10.0))
    m = result.metrics
    assert list(m.index) == ["policy", "buy_hold", "flat"]
    assert m.loc["flat", "total_return"] == 0.0 and m.loc["flat", "exposure"] == 0.0
    assert m.loc["policy", "total_return"] > m.loc["buy_hold", "total_return"]
    assert m.loc["policy", "hit_rate"] > 0.5 and m.loc["policy", "sharpe"] > 5
    assert m.loc["buy_hold", "exposure"] == 1.0
    # Buy-and-hold pays one entry fee (first candle) and one exit fee (after the last).
    hold = r.copy()
    hold[0] -= 0.001
    hold[-1] -= 0.001
    assert m.loc["buy_hold", "total_return"] == pytest.approx(np.prod(1.0 + hold) - 1.0)
    assert result.versus_buy_hold.low > 0.0  # the interval excludes no difference
    assert result.versus_flat.low > 0.0 and "policy - flat" in format_backtest(result, "t")
    assert (result.frame["policy_drawdown"] <= 0).all()


def test_without_an_edge_the_interval_covers_no_difference():
    rng = np.random.default_rng(2)
    r = rng.normal(0.0, 0.01, 3000)
    noise = rng.uniform(0, 1, len(r))
    policy = SignalPolicy(normal=0.0, strong=0.5, mode="long_flat")
    result = run_backtest(_times(len(r)), noise, r, policy, Costs(fee_bps=0.0, horizon=5))
    versus = result.versus_buy_hold
    assert versus.low < 0.0 < versus.high or versus.high < 0.0
    assert versus.low < versus.mean_diff < versus.high and 0.0 <= versus.p_value <= 1.0


def test_the_interval_widens_with_the_horizon_overlap():
    rng = np.random.default_rng(3)
    d = np.convolve(rng.normal(0, 1, 5000), np.ones(5), "valid")  # MA(4): overlapping periods
    narrow = compare_returns(d, np.zeros(len(d)), 1)
    wide = compare_returns(d, np.zeros(len(d)), 5)
    assert wide.high - wide.low > 1.5 * (narrow.high - narrow.low)


def test_bad_input_is_a_clear_error():
    with pytest.raises(MlpkgError, match="NaN"):
        net_returns(np.ones(2), np.array([0.01, math.nan]), 0.0)
    with pytest.raises(MlpkgError, match="horizon"):
        held_positions(np.ones(3), 0)


def test_the_signal_share_counts_the_candles_that_are_not_hold():
    p = np.array([0.5, 0.6, 0.4, 0.9, 0.52])  # confidence 0, 0.2, 0.2, 0.8, 0.04
    policy = SignalPolicy(normal=0.1, strong=0.5)
    result = run_backtest(_times(5), p, np.zeros(5), policy, Costs(fee_bps=0.0))
    assert result.signal_share == pytest.approx(3 / 5)
    assert result.flat_metrics("x_")["x_policy_signal_share"] == pytest.approx(0.6)
