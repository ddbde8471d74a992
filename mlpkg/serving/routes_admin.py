"""Mutating endpoints (bearer token when ``MLPKG_API_TOKEN`` is set) and training jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from mlpkg.errors import ConfigError
from mlpkg.serving import status, views
from mlpkg.serving.deps import AuthDep, PairDep, StateDep
from mlpkg.serving.schemas import (
    CleanupRequest,
    CleanupResponse,
    ErrorBody,
    JobOut,
    JobsResponse,
    ReloadResponse,
    SaveResponse,
    StorageStats,
    StorageStatsResponse,
    TrainAccepted,
)
from mlpkg.storage import JobNotFoundError

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
    413: {"model": ErrorBody, "description": "Request body larger than 64 KiB."},
    422: {"model": ErrorBody, "description": "Invalid parameters."},
}
PAIR_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    404: {"model": ErrorBody, "description": "Unknown pair."},
}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Body that cannot be decoded (e.g. not UTF-8)."},
}
TRAIN_EXAMPLE = {"epochs": 3, "max_rows": 2000}

router = APIRouter(prefix="/api")
# GET /train/jobs is declared before POST /train/{pair}: both match the path /train/jobs, and
# Starlette's 405 answer lists the methods of the first route that matches the path.


@router.get("/train/jobs", tags=["training"])
def get_jobs(state: StateDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JobsResponse:
    """The newest training jobs first."""
    jobs = [views.job_view(j) for j in state.jobs.list(limit)]
    return JobsResponse(jobs=jobs, count=len(jobs))


@router.post(
    "/train/{pair}",
    status_code=202,
    tags=["training"],
    dependencies=[AuthDep],
    responses={**PAIR_AUTH_ERRORS, **BODY_ERRORS},
)
def post_train(
    pair: PairDep,
    state: StateDep,
    params: Annotated[
        dict[str, Any] | None,
        Body(description="Run-config overrides (flattened names).", examples=[TRAIN_EXAMPLE]),
    ] = None,
) -> TrainAccepted:
    """Queue a training run of the pair (one runs at a time); poll its job for the outcome."""
    job_id, stored = state.training.submit(pair, params or {})
    return TrainAccepted(
        message=f"Training queued for {pair}",
        job_id=job_id,
        pair=pair,
        params=stored,
        status_url=f"/api/train/jobs/{job_id}",
        timestamp=status.now_ms(),
    )


@router.get(
    "/train/jobs/{job_id}",
    tags=["training"],
    responses={404: {"model": ErrorBody, "description": "Unknown job id."}},
)
def get_job(job_id: Annotated[str, Path(min_length=1, max_length=64)], state: StateDep) -> JobOut:
    """One training job: queued, running, succeeded, failed or interrupted."""
    job = state.jobs.get(job_id)
    if job is None:
        raise JobNotFoundError(f"No training job {job_id!r}: GET /api/train/jobs lists them.")
    return views.job_view(job)


@router.post(
    "/models/{pair}/reload", tags=["models"], dependencies=[AuthDep], responses=PAIR_AUTH_ERRORS
)
def post_reload(pair: PairDep, state: StateDep) -> ReloadResponse:
    """Re-read the alias now and load its version (a failed load keeps the served model)."""
    outcome = state.models.refresh(pair, force=True)
    loaded = status.model_health(state.models.snapshot(pair), state.models.alias)
    return ReloadResponse(pair=pair, outcome=outcome.value, loaded=loaded)


@router.get("/storage/stats", tags=["storage"])
def get_storage_stats(state: StateDep) -> StorageStatsResponse:
    """Size and content of the prediction store."""
    stats = StorageStats.model_validate(state.store.stats())
    return StorageStatsResponse(
        storage=stats, cached_predictions=state.predictor.cached_count, timestamp=status.now_ms()
    )


@router.post(
    "/storage/cleanup",
    tags=["storage"],
    dependencies=[AuthDep],
    responses={**AUTH_ERRORS, **BODY_ERRORS},
)
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
        timestamp=status.now_ms(),
    )


def _wal_size(state: StateDep) -> int:
    return int(state.store.stats()["wal_size_bytes"])


@router.post("/storage/save", tags=["storage"], dependencies=[AuthDep], responses=AUTH_ERRORS)
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
        timestamp=status.now_ms(),
    )
