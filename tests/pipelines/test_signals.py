"""The signal policy: chosen on development folds only, backtested on the holdout, registered."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from mlpkg.config import Settings
from mlpkg.models.signals import POLICY_META, SignalPolicy
from mlpkg.pipelines.dataset import prepare_dataset
from mlpkg.pipelines.evaluate import evaluate_development
from mlpkg.pipelines.holdout import score_holdout
from mlpkg.pipelines.signals import backtest_holdout, choose_signal_policy, development_backtest
from mlpkg.pipelines.train import train_pair
from mlpkg.tracking import registry

pytestmark = pytest.mark.slow


def _develop(candles, config):
    development = evaluate_development(prepare_dataset(config, candles=candles), config)
    return development, choose_signal_policy(development, config)


def test_scrambling_the_holdout_candles_leaves_the_thresholds_unchanged(btc_candles, tiny_config):
    config = tiny_config(models="logistic", importance_rows=0, policy_min_trades=10)
    development, choice = _develop(btc_candles, config)
    start = development.split.start_time
    scrambled = btc_candles.copy()
    late = scrambled.index >= start
    order = np.random.default_rng(0).permutation(int(late.sum()))
    scrambled.iloc[np.flatnonzero(late)] = scrambled[late].to_numpy()[order]
    other, other_choice = _develop(scrambled, config)
    assert other_choice.policy == choice.policy
    assert other_choice.grid.equals(choice.grid)
    # The scramble reached the holdout: the same candidate scores it differently there.
    ours, theirs = score_holdout(development, config), score_holdout(other, config)
    assert not np.allclose(ours["proba_up"], theirs["proba_up"])
    first = backtest_holdout(ours, "logistic", choice.policy, development.dataset, config)
    second = backtest_holdout(theirs, "logistic", choice.policy, other.dataset, config)
    assert first.metrics.loc["buy_hold", "total_return"] != pytest.approx(
        second.metrics.loc["buy_hold", "total_return"]
    )
    in_sample = development_backtest(development, choice.policy, config)
    assert in_sample.frame.index.max() < start  # the development backtest reads no holdout row


def test_train_records_the_policy_and_its_holdout_backtest(tmp_path, tiny_config):
    settings = Settings(home=tmp_path, pairs=["ETH"])
    uri = mlflow.get_tracking_uri()
    try:
        config = tiny_config(pair="ETH", models="logistic", policy_min_trades=10)
        result = train_pair(config, settings)
        assert "SIGNAL POLICY (chosen on the development folds" in result.text
        assert "HOLDOUT BACKTEST" in result.text and "buy_hold" in result.text
        run = mlflow.MlflowClient().get_run(result.run_id)
        policy = SignalPolicy.from_dict(result.bundle.extra[POLICY_META])
        assert float(run.data.params["signal_policy_normal"]) == policy.normal
        assert run.data.params["signal_policy_mode"] == "long_flat"
        metrics = run.data.metrics
        for key in ("policy_total_return", "buy_hold_sharpe", "flat_total_return"):
            assert f"holdout_backtest_{key}" in metrics
        low = metrics["holdout_backtest_policy_vs_buy_hold_diff_low"]
        high = metrics["holdout_backtest_policy_vs_buy_hold_diff_high"]
        assert low <= metrics["holdout_backtest_policy_vs_buy_hold_diff_mean"] <= high
        artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "plots")}
        assert "plots/holdout_backtest.png" in artifacts
        bundle, _ = registry.load_model("ETH", registry.CANDIDATE, tmp_path / "model")
        assert SignalPolicy.from_dict(bundle.extra[POLICY_META]) == policy
    finally:
        mlflow.set_tracking_uri(uri)
