from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.report import flat_metrics, format_report, summarize


def _predictions(lstm_quality: float, n_folds: int = 3, rows: int = 200, seed: int = 0):
    """Synthetic walk-forward output: lstm leans towards the truth by ``lstm_quality``."""
    rng = np.random.default_rng(seed)
    frames = []
    for fold in range(n_folds):
        index = pd.date_range(f"2024-0{fold + 1}-01", periods=rows, freq="h", tz="UTC")
        y = rng.integers(0, 2, rows).astype(float)
        future_return = np.where(y == 1, 1, -1) * rng.uniform(0.001, 0.01, rows)
        probas = {
            "lstm": np.clip(0.5 + lstm_quality * (y - 0.5) + rng.normal(0, 0.05, rows), 0.01, 0.99),
            "majority": np.full(rows, 0.5),
            "logistic": np.clip(0.5 + rng.normal(0, 0.2, rows), 0.01, 0.99),
        }
        for model, proba in probas.items():
            frames.append(pd.DataFrame({
                "fold": fold, "cutoff": index[0], "open_time": index, "model": model,
                "proba_up": proba, "y_true": y, "future_return": future_return,
            }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_summarize_builds_per_fold_and_summary_tables():
    report = summarize(_predictions(0.2), fee_bps=10, horizon=1)

    assert report.per_fold.index.names == ["fold", "model"]
    assert len(report.per_fold) == 9
    assert {"accuracy", "log_loss", "roc_auc", "strategy_return", "buy_hold_return"} <= set(
        report.per_fold.columns
    )
    assert list(report.summary.index) == ["lstm", "majority", "logistic"]
    assert report.summary.loc["majority", "log_loss_mean"] == pytest.approx(math.log(2))
    fold_means = report.per_fold.xs("lstm", level="model")["accuracy"]
    assert report.summary.loc["lstm", "accuracy_mean"] == pytest.approx(fold_means.mean())
    assert report.summary.loc["lstm", "accuracy_std"] == pytest.approx(fold_means.std())
    assert report.n_folds == 3


def test_a_better_model_beats_the_best_baseline():
    report = summarize(_predictions(0.3), fee_bps=10, horizon=1)

    assert report.best_baseline == "majority"  # 0.5 is the lowest-loss baseline on noise
    assert report.significance["baseline"] == "majority"
    assert report.significance["stat"] < 0 and report.significance["p_value"] < 0.01
    assert report.verdict.startswith("lstm beats the best baseline (majority)")


def test_a_useless_model_does_not_beat_the_best_baseline():
    report = summarize(_predictions(0.0, seed=3), fee_bps=10, horizon=1)
    text = format_report(report)

    assert "does NOT beat" in report.verdict or "WORSE" in report.verdict
    for name in ("lstm", "majority", "logistic", "Diebold-Mariano", "Verdict:", "buy & hold"):
        assert name in text
    assert "±" in text


def test_flat_metrics_keys_for_mlflow():
    report = summarize(_predictions(0.2), fee_bps=10, horizon=5)
    flat = flat_metrics(report)

    assert {"lstm_log_loss_mean", "lstm_log_loss_std", "logistic_accuracy_mean",
            "fold2_lstm_accuracy", "fold0_majority_log_loss", "dm_stat", "dm_p_value",
            "beats_best_baseline"} <= set(flat)  # fmt: skip
    assert all(isinstance(v, float) for v in flat.values())
    assert flat["fold2_lstm_accuracy"] == report.per_fold.loc[(2, "lstm"), "accuracy"]


def test_summarize_without_the_model_is_refused():
    predictions = _predictions(0.2)
    with pytest.raises(MlpkgError, match="'gru'"):
        summarize(predictions, fee_bps=10, horizon=1, model="gru")


def test_summarize_without_baselines_says_it_cannot_judge():
    predictions = _predictions(0.2)
    report = summarize(predictions[predictions["model"] == "lstm"], fee_bps=0, horizon=1)

    assert report.best_baseline == "" and report.significance == {}
    assert "cannot be judged" in format_report(report)


def test_walk_forward_output_summarizes_end_to_end():
    from mlpkg.config import WalkForwardConfig
    from mlpkg.evaluation.splits import walk_forward_splits
    from mlpkg.evaluation.walk_forward import run_walk_forward
    from mlpkg.models.baselines import LogisticBaseline, MajorityClassBaseline

    rng = np.random.default_rng(5)
    index = pd.date_range("2024-01-01", periods=600, freq="h", tz="UTC", name="open_time")
    y = pd.Series(rng.integers(0, 2, 600).astype(float), index=index)
    X = pd.DataFrame({"noise": rng.normal(size=600), "oracle": y}, index=index)
    returns = pd.Series(np.where(y == 1, 0.01, -0.01), index=index)
    folds = walk_forward_splits(600, WalkForwardConfig(n_folds=2), horizon=1, window=1)
    models = {"logistic": LogisticBaseline, "majority": MajorityClassBaseline}

    report = summarize(run_walk_forward(X, y, returns, models, folds), fee_bps=0, horizon=1,
                       model="logistic")  # fmt: skip

    assert report.verdict.startswith("logistic beats the best baseline (majority)")
    assert report.summary.loc["logistic", "accuracy_mean"] == 1.0
    # perfect foresight, no fees: every trade wins
    assert report.summary.loc["logistic", "strategy_hit_rate_mean"] == 1.0
