"""Read the evaluation metrics a training run logged: walk-forward means beside the baselines.

A training run logs ``<model>_<metric>_mean`` for the LSTM and every baseline (over the
walk-forward folds) and ``dm_<stat>`` for the Diebold-Mariano test of the LSTM against the best
baseline (see ``mlpkg.pipelines.evaluate``). These functions read them back for one registered
version, e.g. for the service's model status.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import mlflow

from mlpkg.tracking.registry import VersionInfo

MEAN_SUFFIX = "_mean"
LOG_LOSS_MEAN = "_log_loss_mean"
DM_PREFIX = "dm_"
MODEL = "lstm"


@dataclass(frozen=True)
class VersionMetrics:
    """Walk-forward metrics of a registered version's run, beside every baseline's.

    Attributes:
        version: The registered version.
        run_id: The run that logged the metrics (empty when the version has none).
        walk_forward: model -> metric -> mean over the folds (``lstm`` and every baseline).
        best_baseline: The baseline with the lowest mean log loss (``None`` without baselines).
        beats_baselines: Whether the LSTM's mean log loss is below every baseline's (``None``
            when either is missing).
        significance: The Diebold-Mariano test of the LSTM against the best baseline.
    """

    version: str
    run_id: str
    walk_forward: dict[str, dict[str, float]] = field(default_factory=dict)
    best_baseline: str | None = None
    beats_baselines: bool | None = None
    significance: dict[str, float] = field(default_factory=dict)


def walk_forward_means(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Group ``<model>_<metric>_mean`` run metrics by model (fold and DM keys are skipped).

    Model names may contain underscores (``always_up``): every model logs ``log_loss_mean``,
    so the names are read from those keys first.

    Args:
        metrics: A run's logged metrics (``run.data.metrics``).

    Returns:
        model -> metric -> value, e.g. ``{"lstm": {"log_loss": 0.69, "accuracy": 0.52}}``;
        non-finite values are left out.
    """
    models = sorted(
        (
            k.removesuffix(LOG_LOSS_MEAN)
            for k in metrics
            if k.endswith(LOG_LOSS_MEAN) and not k.startswith("fold")
        ),
        key=len,
        reverse=True,
    )
    grouped: dict[str, dict[str, float]] = {}
    for key, value in sorted(metrics.items()):
        model = next((m for m in models if key.startswith(f"{m}_")), None)
        if model is None or not key.endswith(MEAN_SUFFIX) or not math.isfinite(value):
            continue
        metric = key.removeprefix(f"{model}_").removesuffix(MEAN_SUFFIX)
        grouped.setdefault(model, {})[metric] = value
    return grouped


def summarize_metrics(version: str, run_id: str, metrics: Mapping[str, float]) -> VersionMetrics:
    """Compare the LSTM's walk-forward means with the baselines' (pure).

    Args:
        version: The registered version the run belongs to.
        run_id: The run's id.
        metrics: The run's logged metrics.
    """
    grouped = walk_forward_means(metrics)
    baselines = {m: v["log_loss"] for m, v in grouped.items() if m != MODEL and "log_loss" in v}
    best = min(baselines, key=lambda m: baselines[m]) if baselines else None
    lstm = grouped.get(MODEL, {}).get("log_loss")
    beats = None if best is None or lstm is None else lstm < baselines[best]
    significance = {
        k.removeprefix(DM_PREFIX): v for k, v in metrics.items() if k.startswith(DM_PREFIX)
    }
    return VersionMetrics(
        version=version,
        run_id=run_id,
        walk_forward=grouped,
        best_baseline=best,
        beats_baselines=beats,
        significance=significance,
    )


def champion_metrics(version: VersionInfo) -> VersionMetrics:
    """Read the walk-forward metrics of a registered version's run from MLflow (one call).

    Args:
        version: The version, e.g. the one behind the ``champion`` alias.

    Returns:
        Its metrics beside the baselines' (empty when the version has no run).
    """
    metrics: dict[str, float] = {}
    if version.run_id:
        metrics = dict(mlflow.MlflowClient().get_run(version.run_id).data.metrics)
    return summarize_metrics(version.version, version.run_id, metrics)
