"""``/api/storage``: what the prediction store holds, retention cleanup, WAL checkpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Query

from mlpkg.errors import ConfigError
from mlpkg.serving.deps import AuthDep, StateDep
from mlpkg.serving.errors import AUTH_ERRORS, BODY_ERRORS
from mlpkg.serving.schemas import (
    CleanupRequest,
    CleanupResponse,
    SaveResponse,
    StorageStats,
    StorageStatsResponse,
    now_ms,
)
from mlpkg.serving.state import ServingState

router = APIRouter(prefix="/api/storage", tags=["storage"])


@router.get("/stats")
def get_storage_stats(state: StateDep) -> StorageStatsResponse:
    """Size and content of the prediction store."""
    stats = StorageStats.model_validate(state.store.stats())
    return StorageStatsResponse(
        storage=stats, cached_predictions=state.predictor.cached_count, timestamp=now_ms()
    )


@router.post("/cleanup", dependencies=[AuthDep], responses={**AUTH_ERRORS, **BODY_ERRORS})
def post_cleanup(
    state: StateDep,
    body: Annotated[CleanupRequest | None, Body()] = None,
    max_age_hours: Annotated[float | None, Query(alias="maxAgeHours", gt=0, le=1e6)] = None,
) -> CleanupResponse:
    """Delete predictions served more than ``maxAgeHours`` ago (body or query)."""
    hours = body.max_age_hours if body is not None else max_age_hours
    if hours is None:
        raise ConfigError('Give the retention as body {"maxAgeHours": 168} or ?maxAgeHours=168.')
    now = datetime.now(UTC)
    deleted = state.store.cleanup(hours, now=now)
    return CleanupResponse(
        message=f"Deleted {deleted} predictions served more than {hours:g} hours ago",
        cleaned_items=deleted,
        max_age_hours=hours,
        cutoff=now - timedelta(hours=hours),
        timestamp=now_ms(),
    )


@router.post("/save", dependencies=[AuthDep], responses=AUTH_ERRORS)
def post_save(state: StateDep) -> SaveResponse:
    """Checkpoint the write-ahead log into the database file (every prediction is committed)."""
    before = _wal_size(state)
    frames = state.store.checkpoint()
    state.jobs.checkpoint()
    return SaveResponse(
        message=f"Checkpointed {frames} WAL frames into {state.store.path.name}",
        checkpointed_frames=frames,
        wal_size_bytes_before=before,
        wal_size_bytes_after=_wal_size(state),
        timestamp=now_ms(),
    )


def _wal_size(state: ServingState) -> int:
    return int(state.store.stats()["wal_size_bytes"])
