"""``GET /api/health``: always 200 while the process is up; ``degraded`` says why.

It never calls core or MLflow: the models, the candle source, the worker and the live loop
report what they last saw, and the store's row counter is read (no table scan).
"""

from __future__ import annotations

import os
from importlib import metadata

from fastapi import APIRouter

from mlpkg.serving.deps import StateDep
from mlpkg.serving.routes.models import model_health
from mlpkg.serving.schemas import (
    HealthResponse,
    LiveHealth,
    LivePairHealth,
    ModelHealth,
    StorageHealth,
    TrainingHealth,
    UpstreamHealth,
    now_ms,
)
from mlpkg.serving.state import ServingState

LEADER_START_GRACE_S = 30.0
"""Seconds after start during which a leader whose runner has not started yet is healthy."""

router = APIRouter(prefix="/api/health", tags=["health"])


def service_version() -> str:
    """The installed mlpkg version."""
    try:
        return metadata.version("mlpkg")
    except metadata.PackageNotFoundError:
        return "unknown"


@router.get("")
def get_health(state: StateDep) -> HealthResponse:
    """Service status (always 200 while up): ``healthy``, or ``degraded`` with reasons."""
    return health_body(state)


def health_body(state: ServingState) -> HealthResponse:
    """Build the ``/api/health`` body: degraded (with reasons) when anything is missing."""
    alias = state.models.alias
    models = {p: model_health(state.models.snapshot(p), alias) for p in state.models.pairs}
    upstream = UpstreamHealth.model_validate(state.feed.upstream, from_attributes=True)
    storage = _storage_health(state)
    running = next((j for j in state.jobs.active() if j.status == "running"), None)
    started = state.training.started  # read before ``alive``: the runner may start in between
    training = TrainingHealth.from_object(
        state.training,
        worker_alive=state.training.alive,
        running_job=running.id if running else None,
        leader=state.lease.held,
        pid=os.getpid(),
    )
    # The leader takes the lease before the port opens and starts its runner just after
    # (``app.lead``): a runner not started yet is only a reason once that grace is over.
    starting = not started and state.uptime_s < LEADER_START_GRACE_S
    reasons = degraded_reasons(models, upstream, storage, training, starting=starting)
    reasons += live_reasons(state)
    seconds = state.uptime_s
    return HealthResponse(
        status="degraded" if reasons else "healthy",
        reasons=reasons,
        version=service_version(),
        timestamp=now_ms(),
        uptime=_hh_mm_ss(seconds),
        uptime_seconds=round(seconds, 3),
        models=models,
        upstream=upstream,
        storage=storage,
        training=training,
        live=live_health(state),
    )


def live_reasons(state: ServingState) -> list[str]:
    """Drift and accuracy alerts per pair, and the replay's caveats (no I/O)."""
    reasons = []
    for pair in state.models.pairs:
        drift = state.live.drift(pair)
        if drift is not None:
            reasons += drift.reasons(pair)
    if state.live.replay is not None:
        reasons += [f"replay: {note}" for note in state.live.replay.notes]
    return reasons


def live_health(state: ServingState) -> LiveHealth:
    """The live loop's clock and per-pair progress (no I/O)."""
    live = state.live
    replay = live.replay
    speed = getattr(state.clock, "speed", None)
    pairs = {}
    for pair, seen in {**live.pairs, **live.extras}.items():  # extras: BTC-4h-h6
        drift = live.drift(pair)
        pairs[pair] = LivePairHealth.from_object(
            seen,
            model_version=seen.version,
            last_scored=seen.last_scored.to_pydatetime() if seen.last_scored else None,
            drift_alert=drift.alert if drift else None,
        )
    return LiveHealth(
        enabled=state.settings.live_scoring,
        clock="replay" if state.clock.mode == "replay" else "wall",
        now=state.clock.now().to_pydatetime(),
        replay_speed=speed,
        replay_start=replay.start.to_pydatetime() if replay else None,
        replay_reason=replay.reason if replay else None,
        notes=replay.notes if replay else [],
        pairs=pairs,
        subscribers=len(live.hub.subscribers),
        published=live.hub.published,
    )


def degraded_reasons(
    models: dict[str, ModelHealth],
    upstream: UpstreamHealth,
    storage: StorageHealth,
    training: TrainingHealth,
    *,
    starting: bool = False,
) -> list[str]:
    """Say why the service is degraded, one reason per problem (empty when healthy).

    ``starting``: the leader's runner has not been started yet, within its start-up grace.
    """
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
    if training.leader and not training.worker_alive and not starting:
        reasons.append("training worker is not running")
    return reasons


def _storage_health(state: ServingState) -> StorageHealth:
    path = str(state.store.path)
    try:
        rows = state.store.row_count()
    except Exception as exc:  # health must answer whatever the store does
        return StorageHealth(state="error", path=path, error=str(exc))
    return StorageHealth(state="ok", path=path, rows=rows)


def _hh_mm_ss(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
