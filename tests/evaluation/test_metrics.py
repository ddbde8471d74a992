from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.metrics import (
    classification_metrics,
    confidence_buckets,
    log_losses,
    strategy_returns,
    trade_returns,
)

Y = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=float)
P = np.array([0.9, 0.2, 0.4, 0.6, 0.5, 0.7, 0.8, 0.1])


def test_classification_metrics_by_hand():
    result = classification_metrics([1, 0, 1, 1], [0.9, 0.2, 0.4, 0.6])

    assert result["accuracy"] == 0.75
    assert result["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    expected_loss = -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.6)) / 4
    assert result["log_loss"] == pytest.approx(expected_loss)
    assert result["brier"] == pytest.approx((0.01 + 0.04 + 0.36 + 0.16) / 4)
    assert result["roc_auc"] == pytest.approx(1.0)  # 0.2 is below every positive score
    assert result["up_rate_pred"] == 0.5
    assert result["up_rate_true"] == 0.75
    assert result["n"] == 4


def test_classification_metrics_match_sklearn():
    result = classification_metrics(Y, P)
    decisions = (P > 0.5).astype(int)

    assert result["accuracy"] == pytest.approx(skm.accuracy_score(Y, decisions))
    assert result["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(Y, decisions))
    assert result["log_loss"] == pytest.approx(skm.log_loss(Y, P))
    assert result["brier"] == pytest.approx(skm.brier_score_loss(Y, P))
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(Y, P))


@pytest.mark.parametrize("seed", range(5))
def test_every_score_equals_sklearns_on_random_blocks_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300).astype(float)
    p = np.round(rng.random(300), 1)  # ties, and some exactly 0.5
    decisions = (p > 0.5).astype(float)
    result = classification_metrics(y, p)

    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y, decisions), abs=1e-12)
    expected = skm.balanced_accuracy_score(y, decisions)
    assert result["balanced_accuracy"] == pytest.approx(expected, abs=1e-12)
    assert result["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


def test_roc_auc_counts_ties_half_like_sklearn():
    y, p = [0, 1, 0, 1, 1], [0.5, 0.5, 0.3, 0.7, 0.5]
    assert classification_metrics(y, p)["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))


def test_exactly_one_half_counts_as_down():
    assert classification_metrics([0, 1], [0.5, 0.5])["up_rate_pred"] == 0.0


def test_single_class_gives_nan_auc_and_recall_of_that_class():
    result = classification_metrics([1, 1, 1], [0.6, 0.4, 0.7])

    assert math.isnan(result["roc_auc"])
    assert result["balanced_accuracy"] == pytest.approx(2 / 3)


def test_log_loss_is_finite_for_certain_wrong_predictions():
    losses = log_losses([1, 0], [0.0, 1.0])
    assert np.isfinite(losses).all() and (losses > 30).all()


def test_metrics_reject_nan_and_length_mismatch():
    with pytest.raises(MlpkgError, match="NaN"):
        classification_metrics([1, 0], [0.5, math.nan])
    with pytest.raises(MlpkgError, match="2 values"):
        classification_metrics([1, 0], [0.5, 0.5, 0.5])


def test_confidence_buckets_by_hand():
    # confidence |p - .5| * 2: .8 .6 .2 .2 0 .4 .6 .8
    table = confidence_buckets(Y, P, edges=(0.0, 0.3, 0.7, 1.0))

    assert list(table["bucket"]) == ["0-0.3", "0.3-0.7", "0.7-1"]
    assert list(table["count"]) == [3, 3, 2]
    # correct: T T F T T F T T -> low bucket (rows 2,3,4): F T T; mid (1,5,6): T F T; high: T T
    np.testing.assert_allclose(table["accuracy"], [2 / 3, 2 / 3, 1.0])
    assert table["share"].sum() == pytest.approx(1.0)


def test_confidence_buckets_include_full_confidence_and_report_empty_buckets():
    table = confidence_buckets([1, 0], [1.0, 0.0], edges=(0.0, 0.5, 1.0))

    assert list(table["count"]) == [0, 2]
    assert math.isnan(table["accuracy"].iloc[0])
    assert table["accuracy"].iloc[1] == 1.0


def test_strategy_returns_long_flat_with_fees_by_hand():
    # horizon 2: decisions at rows 0, 2, 4 -> positions 1, 0, 1
    p = [0.7, 0.1, 0.3, 0.9, 0.8, 0.2]
    r = [0.10, 9.0, -0.05, 9.0, 0.02, 9.0]  # rows 1, 3, 5 overlap a held trade: ignored
    result = strategy_returns(p, r, fee_bps=10, mode="long_flat", horizon=2)
    # costs: enter 10bp, exit 10bp, enter 10bp + final exit 10bp
    net = [0.10 - 0.001, 0.0 - 0.001, 0.02 - 0.002]

    assert result["total_return"] == pytest.approx(np.prod(1 + np.array(net)) - 1)
    assert result["n_trades"] == 2
    assert result["mean_return_per_trade"] == pytest.approx((net[0] + net[2]) / 2)
    assert result["hit_rate"] == 1.0
    assert result["exposure"] == pytest.approx(2 / 3)
    hold = [0.10 - 0.001, -0.05, 0.02 - 0.001]
    assert result["buy_hold_total_return"] == pytest.approx(np.prod(1 + np.array(hold)) - 1)
    assert result["buy_hold_n_trades"] == 3
    assert result["buy_hold_hit_rate"] == pytest.approx(2 / 3)


def test_long_short_flips_pay_double_fees():
    positions, net = trade_returns(
        [0.7, 0.3, 0.8], [0.10, -0.05, 0.02], fee_bps=10, mode="long_short", horizon=1
    )

    np.testing.assert_array_equal(positions, [1, -1, 1])
    np.testing.assert_allclose(net, [0.10 - 0.001, 0.05 - 0.002, 0.02 - 0.003])


def test_always_up_without_fees_is_buy_and_hold():
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.01, 60)
    result = strategy_returns(np.full(60, 0.9), r, fee_bps=0, horizon=3)

    assert result["total_return"] == pytest.approx(result["buy_hold_total_return"])
    assert result["total_return"] == pytest.approx(np.prod(1 + r[::3]) - 1)


def test_unknown_strategy_mode_is_rejected():
    with pytest.raises(MlpkgError, match="mode"):
        strategy_returns([0.6], [0.01], fee_bps=1, mode="short_only", horizon=1)


def test_trades_are_scheduled_on_clock_time_across_missing_rows():
    """h = 5: decide at hours 0, 5, 10, 15...; a missing row is skipped, not counted as time."""
    import pandas as pd

    from mlpkg.evaluation.metrics import trade_returns, trade_schedule

    hours = [h for h in range(20) if h != 7]  # hour 7 missing: rows after it shift by one
    times = pd.date_range("2024-01-01", periods=20, freq="h", tz="UTC")[hours]
    decided = trade_schedule(len(times), 5, times)
    assert [hours[i] for i in decided] == [0, 5, 10, 15]
    # without times it counts rows: the rows at hours 0, 5, 11 and 16
    assert [hours[i] for i in trade_schedule(len(times), 5)] == [0, 5, 11, 16]
    returns = np.arange(len(times)) / 100.0
    _, net = trade_returns(np.ones(len(times)), returns, fee_bps=0, horizon=5, times=times)
    np.testing.assert_allclose(net, returns[decided])
