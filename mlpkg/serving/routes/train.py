"""``/api/train``: queue a training run of a pair (``POST``, 202) and follow its job."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from mlpkg.serving.deps import AuthDep, PairDep, StateDep
from mlpkg.serving.errors import BODY_ERRORS, JOB_ERRORS, PAIR_AUTH_ERRORS
from mlpkg.serving.schemas import JobOut, JobsResponse, TrainAccepted, now_ms
from mlpkg.storage import JobNotFoundError, JobRecord

TRAIN_EXAMPLE = {"epochs": 3, "max_rows": 2000}

router = APIRouter(prefix="/api/train", tags=["training"])
# GET /jobs is declared before POST /{pair}: both match the path /api/train/jobs, and
# Starlette's 405 answer lists the methods of the first route that matches the path.


@router.get("/jobs")
def get_jobs(state: StateDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JobsResponse:
    """The newest training jobs first."""
    jobs = [job_body(j) for j in state.jobs.list(limit)]
    return JobsResponse(jobs=jobs, count=len(jobs))


@router.post(
    "/{pair}",
    status_code=202,
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
        timestamp=now_ms(),
    )


@router.get("/jobs/{job_id}", responses=JOB_ERRORS)
def get_job(job_id: Annotated[str, Path(min_length=1, max_length=64)], state: StateDep) -> JobOut:
    """One training job: queued, running, succeeded, failed or interrupted."""
    job = state.jobs.get(job_id)
    if job is None:
        raise JobNotFoundError(f"No training job {job_id!r}: GET /api/train/jobs lists them.")
    return job_body(job)


def job_body(job: JobRecord) -> JobOut:
    """A training job body."""
    return JobOut.from_object(
        job, status=job.status.value, created_at=job.created_at.astimezone(UTC)
    )
