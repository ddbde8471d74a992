"""Health and model status bodies, assembled from the state, the store and MLflow (blocking)."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from mlpkg.serving.model_cache import PairSlot
from mlpkg.serving.schemas import (
    ChampionMetrics,
    HealthResponse,
    LiveAccuracy,
    ModelHealth,
    ModelStatusResponse,
    StorageHealth,
    TrainingHealth,
    UpstreamHealth,
    VersionOut,
)
from mlpkg.serving.state import ServingState
from mlpkg.tracking import registry

log = logging.getLogger(__name__)


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def service_version() -> str:
    """The installed mlpkg version."""
    try:
        return metadata.version("mlpkg")
    except metadata.PackageNotFoundError:
        return "unknown"


def _from_ms(value: int) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value else None


def model_health(slot: PairSlot, alias: str) -> ModelHealth:
    """Describe what is served for one pair."""
    model = slot.model
    if model is None:
        return ModelHealth(loaded=False, alias=alias, error=slot.error or slot.missing)
    age = (datetime.now(UTC) - model.loaded_at).total_seconds()
    note = None
    if model.alias != alias:
        note = (
            f"no {alias} yet (no version passed the promotion rule); serving the {model.alias}, "
            f"version {model.version}"
        )
    return ModelHealth(
        loaded=True,
        alias=model.alias,
        note=note,
        version=model.version,
        run_id=model.info.run_id,
        loaded_at=model.loaded_at,
        age_seconds=round(age, 3),
        registered_at=_from_ms(model.info.created_at_ms),
        error=slot.error,
    )


def _storage_health(state: ServingState) -> StorageHealth:
    path = str(state.store.path)
    try:
        rows = int(state.store.stats()["rows"])
    except Exception as exc:  # health must answer whatever the store does
        return StorageHealth(state="error", path=path, error=str(exc))
    return StorageHealth(state="ok", path=path, rows=rows)


def _degraded_reasons(
    models: dict[str, ModelHealth], upstream: UpstreamHealth, storage: StorageHealth
) -> list[str]:
    reasons = [
        f"{pair}: {m.error}" if m.error else f"{pair}: no model loaded"
        for pair, m in models.items()
        if not m.loaded or m.error
    ]
    reasons += [f"{pair}: {m.note}" for pair, m in models.items() if m.note]
    if upstream.state == "error":
        reasons.append(f"candle source {upstream.source}: {upstream.last_error}")
    if storage.state == "error":
        reasons.append(f"prediction store: {storage.error}")
    return reasons


def health(state: ServingState) -> HealthResponse:
    """Build the ``/api/health`` body: degraded (with reasons) when anything is missing."""
    alias = state.models.alias
    models = {p: model_health(state.models.snapshot(p), alias) for p in state.models.pairs}
    up = state.feed.upstream
    upstream = UpstreamHealth(
        source=up.source,
        url=up.url,
        state=up.state,  # type: ignore[arg-type]
        last_success=up.last_success,
        last_error=up.last_error,
        last_error_at=up.last_error_at,
    )
    storage = _storage_health(state)
    training = TrainingHealth(
        worker_alive=state.training.alive,
        running_job=state.training.running_job,
        queued=state.training.queued,
    )
    reasons = _degraded_reasons(models, upstream, storage)
    if not training.worker_alive:
        reasons.append("training worker is not running")
    seconds = state.uptime_s
    hours, rest = divmod(int(seconds), 3600)
    return HealthResponse(
        status="degraded" if reasons else "healthy",
        reasons=reasons,
        version=service_version(),
        timestamp=now_ms(),
        uptime=f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
        uptime_seconds=round(seconds, 3),
        models=models,
        upstream=upstream,
        storage=storage,
        training=training,
    )


def walk_forward_means(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """Group ``<model>_<metric>_mean`` run metrics by model (fold and DM keys are skipped).

    Model names may contain underscores (``always_up``): every model logs ``log_loss_mean``,
    so the names are read from those keys first.
    """
    marker = "_log_loss_mean"
    models = sorted(
        (
            k.removesuffix(marker)
            for k in metrics
            if k.endswith(marker) and not k.startswith("fold")
        ),
        key=len,
        reverse=True,
    )
    grouped: dict[str, dict[str, float]] = {}
    for key, value in sorted(metrics.items()):
        model = next((m for m in models if key.startswith(f"{m}_")), None)
        if model is None or not key.endswith("_mean") or not math.isfinite(value):
            continue
        grouped.setdefault(model, {})[key.removeprefix(f"{model}_").removesuffix("_mean")] = value
    return grouped


def champion_metrics(version: registry.VersionInfo) -> ChampionMetrics:
    """Read the walk-forward metrics of a version's run from MLflow."""
    metrics: dict[str, float] = {}
    if version.run_id:
        metrics = dict(mlflow.MlflowClient().get_run(version.run_id).data.metrics)
    grouped = walk_forward_means(metrics)
    baselines = {m: v["log_loss"] for m, v in grouped.items() if m != "lstm" and "log_loss" in v}
    best = min(baselines, key=lambda m: baselines[m]) if baselines else None
    lstm = grouped.get("lstm", {}).get("log_loss")
    beats = None if best is None or lstm is None else lstm < baselines[best]
    significance = {k.removeprefix("dm_"): v for k, v in metrics.items() if k.startswith("dm_")}
    return ChampionMetrics(
        version=version.version,
        run_id=version.run_id,
        walk_forward=grouped,
        best_baseline=best,
        beats_baselines=beats,
        significance=significance,
    )


def registered_aliases(pair: str) -> dict[str, str]:
    """Return ``alias -> version`` of the pair's registered model (empty when unregistered).

    ``registry.list_versions`` cannot be used for this: MLflow's version search leaves
    ``aliases`` empty.
    """
    try:
        model = mlflow.MlflowClient().get_registered_model(registry.model_name(pair))
    except MlflowException:
        return {}
    return {str(alias): str(version) for alias, version in (model.aliases or {}).items()}


def _version_out(version: registry.VersionInfo, aliases: dict[str, str]) -> VersionOut:
    return VersionOut(
        version=version.version,
        run_id=version.run_id,
        aliases=sorted(a for a, v in aliases.items() if v == version.version),
        log_loss_mean=version.log_loss_mean,
        created_at=_from_ms(version.created_at_ms),
    )


def _live(values: dict[str, Any]) -> LiveAccuracy:
    return LiveAccuracy.model_validate(values)


def model_status(state: ServingState, pair: str) -> ModelStatusResponse:
    """Build the ``/api/models/{pair}/status`` body (MLflow and SQLite reads)."""
    alias = state.models.alias
    slot = state.models.snapshot(pair)
    versions = registry.list_versions(pair)
    aliases = registered_aliases(pair)
    behind_alias = next((v for v in versions if v.version == aliases.get(alias)), None)
    loaded_version = slot.model.version if slot.model else None
    by_version = (
        _live(state.store.live_accuracy(pair, model_version=loaded_version))
        if loaded_version
        else None
    )
    return ModelStatusResponse(
        pair=pair,
        model_name=registry.model_name(pair),
        alias=alias,
        loaded=model_health(slot, alias),
        versions=[_version_out(v, aliases) for v in versions],
        champion=champion_metrics(behind_alias) if behind_alias else None,
        live_accuracy=_live(state.store.live_accuracy(pair)),
        live_accuracy_loaded_version=by_version,
        timestamp=now_ms(),
    )
