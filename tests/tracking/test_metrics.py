"""Reading a run's metrics back by period (pure grouping, and on a real SQLite store)."""

from __future__ import annotations

import math

import mlflow

from mlpkg.tracking.metrics import (
    VersionMetrics,
    development_means,
    holdout_values,
    summarize_metrics,
    version_metrics,
)
from mlpkg.tracking.registry import VersionInfo

LOGGED = {
    "dev_lstm_log_loss_mean": 0.68,
    "dev_lstm_accuracy_mean": 0.55,
    "dev_lstm_log_loss_std": 0.01,
    "dev_lstm_log_loss_seed_std": 0.002,
    "dev_always_up_log_loss_mean": 0.69,
    "dev_always_up_accuracy_mean": 0.52,
    "dev_logistic_log_loss_mean": 0.685,
    "dev_fold0_lstm_log_loss": 0.5,
    "dev_dm_vs_logistic_stat": -1.2,
    "dev_dm_vs_logistic_p": 0.23,
    "dev_selected_log_loss": 0.68,
    "holdout_lstm_log_loss": 0.692,
    "holdout_lstm_accuracy": 0.51,
    "holdout_always_up_log_loss": 0.693,
    "holdout_block0_lstm_log_loss": 0.7,
    "holdout_dm_vs_always_up_stat": -0.4,
    "holdout_dm_vs_always_up_p": 0.34,
    "holdout_uses": 2.0,
    "holdout_alpha": 0.0076,
    "holdout_promoted": 0.0,
}


def _version(run_id: str) -> VersionInfo:
    return VersionInfo(
        version="3",
        run_id=run_id,
        aliases=(),
        log_loss_mean=None,
        created_at_ms=0,
        candidate="lstm",
        decision="rejected",
        reason="fails beats_naive",
    )


def test_development_means_group_by_model_including_names_with_underscores():
    grouped = development_means(LOGGED)
    assert grouped == {
        "lstm": {"log_loss": 0.68, "accuracy": 0.55},
        "always_up": {"log_loss": 0.69, "accuracy": 0.52},
        "logistic": {"log_loss": 0.685},
    }


def test_holdout_values_never_mix_with_development_or_blocks():
    assert holdout_values(LOGGED) == {
        "lstm": {"log_loss": 0.692, "accuracy": 0.51},
        "always_up": {"log_loss": 0.693},
    }
    assert development_means({"dev_lstm_log_loss_mean": 0.7, "dev_lstm_brier_mean": math.nan}) == {
        "lstm": {"log_loss": 0.7}
    }


def test_summary_has_both_periods_spread_tests_uses_and_decision():
    summary = summarize_metrics(_version("run"), LOGGED)
    assert summary.candidate == "lstm" and summary.decision == "rejected"
    assert summary.development_spread == {
        "lstm": {"log_loss_std": 0.01, "log_loss_seed_std": 0.002}
    }
    assert summary.holdout_uses == 2 and summary.holdout_alpha == 0.0076
    assert summary.significance == {
        "dev": {"logistic": {"stat": -1.2, "p": 0.23}},
        "holdout": {"always_up": {"stat": -0.4, "p": 0.34}},
    }


def test_version_metrics_reads_the_versions_run_from_mlflow(tracking_store):
    with mlflow.start_run() as run:
        mlflow.log_metrics(LOGGED)
    metrics = version_metrics(_version(run.info.run_id))
    assert metrics.development["lstm"]["log_loss"] == 0.68
    assert metrics.holdout["lstm"]["log_loss"] == 0.692


def test_version_metrics_of_a_version_without_a_run_is_empty(tracking_store):
    assert version_metrics(_version("")) == VersionMetrics(
        version="3", run_id="", candidate="lstm", decision="rejected", reason="fails beats_naive"
    )
