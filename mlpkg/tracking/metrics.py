"""Read back what a training run measured: development folds and holdout, never mixed.

A training run logs (``mlpkg.evaluation.report``):

* ``dev_<model>_<metric>_mean`` / ``_std`` / ``_seed_std`` for every candidate and reference
  over the development folds, ``dev_fold<k>_...`` per fold, ``dev_dm_vs_<ref>_stat|_p``;
* ``holdout_<model>_<metric>`` for the selected candidate and the references on the holdout,
  ``holdout_block<b>_<model>_log_loss``, ``holdout_dm_vs_<ref>_stat|_p``, ``holdout_uses``.

These functions group them back per model for the service's model status.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlpkg.tracking.connection import mlflow_module
from mlpkg.tracking.registry import VersionInfo

_DEV_LOSS = re.compile(r"^dev_(?!fold\d|dm_)(?P<model>.+)_log_loss_mean$")
_HOLDOUT_LOSS = re.compile(r"^holdout_(?!block\d|dm_)(?P<model>.+)_log_loss$")
_DM = re.compile(r"^(?P<period>dev|holdout)_dm_vs_(?P<other>.+)_(?P<stat>stat|p)$")


@dataclass(frozen=True)
class VersionMetrics:
    """What a registered version's run measured, by period.

    Attributes:
        version: The registered version.
        run_id: The run that logged the metrics (empty when the version has none).
        candidate: The family or ensemble the version holds.
        development: model -> metric -> mean over the development folds.
        development_spread: model -> ``log_loss_std`` (folds) / ``log_loss_seed_std`` (seeds).
        holdout: model -> metric on the holdout (the candidate and the references).
        holdout_uses: k: candidates that had scored rows of that holdout (by time overlap),
            this one included, when this one was scored.
        holdout_alpha: alpha_k, the DM level that use was held to.
        significance: ``dev``/``holdout`` -> reference -> ``{"stat", "p"}`` (one-sided DM).
        decision: ``promoted``, ``rejected`` or ``manual`` (from the version's tags).
        reason: The promotion rule's one-line reason.
    """

    version: str
    run_id: str
    candidate: str = ""
    development: dict[str, dict[str, float]] = field(default_factory=dict)
    development_spread: dict[str, dict[str, float]] = field(default_factory=dict)
    holdout: dict[str, dict[str, float]] = field(default_factory=dict)
    holdout_uses: int | None = None
    holdout_alpha: float | None = None
    significance: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    decision: str = ""
    reason: str = ""


def _models(pattern: re.Pattern[str], metrics: Mapping[str, float]) -> list[str]:
    names = {m.group("model") for key in metrics if (m := pattern.match(key))}
    return sorted(names, key=len, reverse=True)  # longest first: always_up before up


def _group(
    metrics: Mapping[str, float], prefix: str, models: list[str], suffix: str
) -> dict[str, dict[str, float]]:
    grouped: dict[str, dict[str, float]] = {}
    for key, value in sorted(metrics.items()):
        if not key.startswith(prefix) or not key.endswith(suffix) or not math.isfinite(value):
            continue
        rest = key.removeprefix(prefix)
        model = next((m for m in models if rest.startswith(f"{m}_")), None)
        if model is None:
            continue
        metric = rest.removeprefix(f"{model}_").removesuffix(suffix)
        if metric and not metric.endswith(("_std", "_seed")):
            grouped.setdefault(model, {})[metric] = value
    return grouped


def development_means(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Group ``dev_<model>_<metric>_mean`` run metrics by model."""
    return _group(metrics, "dev_", _models(_DEV_LOSS, metrics), "_mean")


def holdout_values(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Group ``holdout_<model>_<metric>`` run metrics by model (blocks and tests excluded)."""
    models = _models(_HOLDOUT_LOSS, metrics)
    plain = {k: v for k, v in metrics.items() if not k.startswith(("holdout_block", "holdout_dm"))}
    return _group(plain, "holdout_", models, "")


def _spread(metrics: Mapping[str, float], models: list[str]) -> dict[str, dict[str, float]]:
    spread: dict[str, dict[str, float]] = {}
    for model in models:
        for name in ("log_loss_std", "log_loss_seed_std"):
            value = metrics.get(f"dev_{model}_{name}")
            if value is not None and math.isfinite(value):
                spread.setdefault(model, {})[name] = value
    return spread


def _significance(metrics: Mapping[str, float]) -> dict[str, dict[str, dict[str, float]]]:
    found: dict[str, dict[str, dict[str, float]]] = {}
    for key, value in metrics.items():
        match = _DM.match(key)
        if match and math.isfinite(value):
            found.setdefault(match["period"], {}).setdefault(match["other"], {})[match["stat"]] = (
                value
            )
    return found


def summarize_metrics(info: VersionInfo, metrics: Mapping[str, float]) -> VersionMetrics:
    """Group a version's run metrics by period and model (pure)."""
    uses, alpha = metrics.get("holdout_uses"), metrics.get("holdout_alpha")
    return VersionMetrics(
        version=info.version,
        run_id=info.run_id,
        candidate=info.candidate,
        development=development_means(metrics),
        development_spread=_spread(metrics, _models(_DEV_LOSS, metrics)),
        holdout=holdout_values(metrics),
        holdout_uses=int(uses) if uses is not None and math.isfinite(uses) else None,
        holdout_alpha=alpha if alpha is not None and math.isfinite(alpha) else None,
        significance=_significance(metrics),
        decision=info.decision,
        reason=info.reason,
    )


def version_metrics(info: VersionInfo) -> VersionMetrics:
    """Read a registered version's run metrics from MLflow (one call) and group them."""
    metrics: dict[str, float] = {}
    if info.run_id:
        metrics = dict(mlflow_module().MlflowClient().get_run(info.run_id).data.metrics)
    return summarize_metrics(info, metrics)
