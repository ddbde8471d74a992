"""Reports: development (fold and seed spread, selection) and holdout, never mixed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.promotion import decide_promotion, spent_alpha
from mlpkg.evaluation.report import (
    flat_development_metrics,
    flat_holdout_metrics,
    format_development,
    format_holdout,
    summarize_development,
    summarize_holdout,
)
from mlpkg.evaluation.selection import choose_candidate
from mlpkg.evaluation.splits import block_labels
from mlpkg.models.baselines import NAIVE_BASELINES

MODELS = ("lstm", "logistic", "majority", "always_up", "persistence")


def _probas(rng, y, quality: float) -> dict[str, np.ndarray]:
    rows = len(y)
    return {
        "lstm": np.clip(0.5 + quality * (y - 0.5) + rng.normal(0, 0.05, rows), 0.01, 0.99),
        "logistic": np.clip(0.5 + rng.normal(0, 0.2, rows), 0.01, 0.99),
        "majority": np.full(rows, 0.5),
        "always_up": np.full(rows, 0.501),
        "persistence": np.clip(0.5 + rng.normal(0, 0.01, rows), 0.4, 0.6),
    }


def _development(quality: float = 0.2, n_folds: int = 3, rows: int = 200, seeds=(42, 43)):
    rng = np.random.default_rng(0)
    frames = []
    for fold in range(n_folds):
        index = pd.date_range(f"2024-0{fold + 1}-01", periods=rows, freq="h", tz="UTC")
        y = rng.integers(0, 2, rows).astype(float)
        future_return = np.where(y == 1, 1, -1) * rng.uniform(0.001, 0.01, rows)
        for seed in seeds:
            for model, proba in _probas(rng, y, quality).items():
                frames.append(
                    pd.DataFrame(
                        {
                            "fold": fold,
                            "seed": seed,
                            "cutoff": index[0] - pd.Timedelta(hours=10),
                            "open_time": index,
                            "model": model,
                            "proba_up": proba,
                            "y_true": y,
                            "future_return": future_return,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def _summarize(predictions, candidates=("lstm", "logistic")):
    selection = choose_candidate(predictions, candidates, {})
    return summarize_development(
        predictions, selection, candidates=candidates, fee_bps=10, horizon=1, base_seed=42
    )


def test_development_summary_has_fold_and_seed_spread_and_candidates_first():
    predictions = _development()
    report = _summarize(predictions)

    assert list(report.summary.index) == [
        "lstm",
        "logistic",
        "majority",
        "always_up",
        "persistence",
    ]
    assert report.roles == {
        "lstm": "candidate",
        "logistic": "candidate, reference",
        "majority": "reference",
        "always_up": "reference",
        "persistence": "reference",
    }
    assert report.selection.chosen == "lstm"
    assert (report.n_folds, report.n_seeds) == (3, 2)
    lstm = predictions[predictions["model"] == "lstm"]
    per = lstm.groupby(["seed", "fold"]).apply(
        lambda g: float((np.where(g["proba_up"] > 0.5, 1, 0) == g["y_true"]).mean())
    )
    fold_means = per.groupby(level="fold").mean()
    assert report.summary.loc["lstm", "accuracy_mean"] == pytest.approx(fold_means.mean())
    assert report.summary.loc["lstm", "accuracy_std"] == pytest.approx(fold_means.std())
    seed_means = per.groupby(level="seed").mean()
    assert report.summary.loc["lstm", "accuracy_seed_std"] == pytest.approx(seed_means.std())
    assert report.summary.loc["majority", "log_loss_mean"] == pytest.approx(math.log(2))
    naive_tested = set(report.significance) - {"logistic"}
    assert "logistic" in report.significance and len(naive_tested) == 1
    assert naive_tested <= set(NAIVE_BASELINES)
    assert report.buckets["count"].sum() == 3 * 200


def test_development_text_marks_the_selection_and_references():
    text = format_development(_summarize(_development()))
    assert "DEVELOPMENT: 3 walk-forward folds x 2 seed(s)" in text
    assert "*lstm" in text and "majority (ref)" in text
    assert "Selected on the development folds (lowest mean log loss): lstm" in text
    assert "one-sided, HLN, rectangular kernel, lags 0..0" in text
    assert "lstm accuracy by confidence |p-0.5|*2: 0-0.1:" in text


def test_a_missing_naive_baseline_is_refused():
    predictions = _development()
    predictions = predictions[predictions["model"] != "persistence"]
    with pytest.raises(MlpkgError, match="persistence"):
        _summarize(predictions)


def _holdout(quality: float = 0.3, rows: int = 800):
    rng = np.random.default_rng(5)
    index = pd.date_range("2024-06-01", periods=rows, freq="h", tz="UTC")
    y = rng.integers(0, 2, rows).astype(float)
    blocks = block_labels(rows, 4)
    frames = [
        pd.DataFrame(
            {
                "model": model,
                "open_time": index,
                "proba_up": p,
                "y_true": y,
                "future_return": 0.001,
                "block": blocks,
            }
        )
        for model, p in _probas(rng, y, quality).items()
    ]
    return pd.concat(frames, ignore_index=True)


def test_holdout_report_has_metrics_blocks_budget_and_the_decision():
    holdout = _holdout()
    decision = decide_promotion(
        holdout, "lstm", baseline="majority", horizon=1, champion=None, use=3
    )
    report = summarize_holdout(
        holdout, "lstm", decision, uses=3, baseline="majority", fee_bps=10, horizon=1
    )

    assert report.metrics.index[0] == "lstm" and set(report.metrics.index) == set(MODELS)
    assert report.blocks.shape == (4, len(MODELS))
    assert report.rows == 800 and report.uses == 3
    text = format_holdout(report)
    assert "HOLDOUT (scored once): 800 rows" in text
    assert "candidates that scored rows of this holdout: 3" in text
    assert f"alpha_3 = {spent_alpha(3):.3g}" in text and report.alpha == spent_alpha(3)
    assert "naive reference (chosen on development): majority" in text
    assert "Promotion: PROMOTED" in text and "[x] beats_naive" in text


def test_flat_metrics_of_the_two_periods_never_share_a_key():
    dev = flat_development_metrics(_summarize(_development()))
    holdout_frame = _holdout()
    decision = decide_promotion(
        holdout_frame, "lstm", baseline="majority", horizon=1, champion=None
    )
    report = summarize_holdout(
        holdout_frame, "lstm", decision, uses=1, baseline="majority", fee_bps=10, horizon=1
    )
    report.metrics.loc["lstm", "roc_auc"] = np.inf  # an infinite metric is never logged
    holdout = flat_holdout_metrics(report)

    assert all(k.startswith("dev_") for k in dev)
    assert all(k.startswith("holdout_") for k in holdout)
    assert "dev_lstm_log_loss_mean" in dev and "dev_lstm_log_loss_seed_std" in dev
    assert "dev_fold2_lstm_log_loss" in dev
    assert "holdout_lstm_log_loss" in holdout and "holdout_block3_lstm_log_loss" in holdout
    assert holdout["holdout_uses"] == 1 and holdout["holdout_promoted"] == 1.0
    assert holdout["holdout_alpha"] == spent_alpha(1)
    assert "holdout_lstm_roc_auc" not in holdout and "holdout_lstm_brier" in holdout
    assert not any(np.isinf(v) for v in {**dev, **holdout}.values())
