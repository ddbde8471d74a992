"""Reading a run's walk-forward metrics back (pure grouping, and on a real SQLite store)."""

from __future__ import annotations

import math

import mlflow

from mlpkg.tracking.metrics import (
    VersionMetrics,
    champion_metrics,
    summarize_metrics,
    walk_forward_means,
)
from mlpkg.tracking.registry import VersionInfo

LOGGED = {
    "lstm_log_loss_mean": 0.68,
    "lstm_accuracy_mean": 0.55,
    "lstm_log_loss_std": 0.01,
    "always_up_log_loss_mean": 0.69,
    "always_up_accuracy_mean": 0.52,
    "logistic_log_loss_mean": 0.685,
    "fold0_lstm_log_loss_mean": 0.5,
    "dm_stat": -1.2,
    "dm_p_value": 0.23,
}


def _version(run_id: str) -> VersionInfo:
    return VersionInfo(version="3", run_id=run_id, aliases=(), log_loss_mean=None, created_at_ms=0)


def test_walk_forward_means_groups_by_model_including_names_with_underscores():
    grouped = walk_forward_means(LOGGED)
    assert grouped == {
        "lstm": {"log_loss": 0.68, "accuracy": 0.55},
        "always_up": {"log_loss": 0.69, "accuracy": 0.52},
        "logistic": {"log_loss": 0.685},
    }


def test_walk_forward_means_skips_non_finite_values():
    grouped = walk_forward_means({"lstm_log_loss_mean": 0.7, "lstm_brier_mean": math.nan})
    assert grouped == {"lstm": {"log_loss": 0.7}}


def test_summary_names_the_best_baseline_and_whether_the_lstm_beats_it():
    summary = summarize_metrics("3", "run", LOGGED)
    assert summary.best_baseline == "logistic"
    assert summary.beats_baselines is True
    assert summary.significance == {"stat": -1.2, "p_value": 0.23}
    worse = summarize_metrics("3", "run", {**LOGGED, "lstm_log_loss_mean": 0.685})
    assert worse.beats_baselines is False


def test_summary_without_baselines_leaves_the_comparison_open():
    summary = summarize_metrics("3", "run", {"lstm_log_loss_mean": 0.68})
    assert summary.best_baseline is None and summary.beats_baselines is None


def test_champion_metrics_reads_the_versions_run_from_mlflow(tracking_store):
    with mlflow.start_run() as run:
        mlflow.log_metrics(LOGGED)
    metrics = champion_metrics(_version(run.info.run_id))
    assert metrics == summarize_metrics("3", run.info.run_id, LOGGED)
    assert metrics.walk_forward["lstm"]["log_loss"] == 0.68


def test_champion_metrics_of_a_version_without_a_run_is_empty(tracking_store):
    assert champion_metrics(_version("")) == VersionMetrics(version="3", run_id="")
