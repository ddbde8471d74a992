"""``/api/train``: queue training runs, follow and cancel jobs, operate periodic retraining.

- ``POST /{pair}`` (202) queues a manual job; ``GET /jobs``, ``GET /jobs/{id}`` follow them;
  ``DELETE /jobs/{id}`` cancels one (a running one's training process is stopped).
- ``GET /queue``: the one-at-a-time queue (running, queued in order, recent, cooldowns).
- ``GET /periodic``, ``POST /periodic/toggle``, ``POST /periodic/run-now``: periodic retraining
  (``MLPKG_RETRAIN_EVERY``), as the replaced service offered under ``/api/training``.

Mutating endpoints need the bearer token (``AuthDep``).
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, Path, Query, Response

from mlpkg.config import parse_duration
from mlpkg.errors import ConfigError
from mlpkg.serving.deps import AuthDep, PairDep, StateDep
from mlpkg.serving.errors import (
    AUTH_ERRORS,
    BODY_ERRORS,
    CANCEL_ERRORS,
    JOB_ERRORS,
    PAIR_AUTH_ERRORS,
)
from mlpkg.serving.schemas import (
    AutoOutcomeOut,
    CancelResponse,
    CooldownOut,
    JobOut,
    JobsResponse,
    PeriodicStatus,
    PeriodicToggle,
    QueuedJobOut,
    QueueResponse,
    RunNowResponse,
    TrainAccepted,
    now_ms,
)
from mlpkg.serving.state import ServingState
from mlpkg.serving.worker import AutoOutcome
from mlpkg.storage import JobNotFoundError, JobRecord, JobStatus

JobId = Annotated[str, Path(min_length=1, max_length=64)]

TRAIN_EXAMPLE = {"epochs": 3, "max_rows": 2000}

router = APIRouter(prefix="/api/train", tags=["training"])
# GET /jobs is declared before POST /{pair}: both match the path /api/train/jobs, and
# Starlette's 405 answer lists the methods of the first route that matches the path.


@router.get("/jobs")
def get_jobs(state: StateDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JobsResponse:
    """The newest training jobs first."""
    jobs = [job_body(j) for j in state.jobs.list(limit)]
    return JobsResponse(jobs=jobs, count=len(jobs))


@router.get("/queue")
def get_queue(state: StateDep) -> QueueResponse:
    """The training queue: the running job, the queued ones in order, recent ones, cooldowns."""
    active = state.jobs.active()
    running = next((j for j in active if j.status == JobStatus.RUNNING), None)
    queued = [j for j in active if j.status == JobStatus.QUEUED]
    recent = [j for j in state.jobs.list(10) if j.done]
    now = state.clock.now()
    return QueueResponse(
        worker_alive=state.training.alive,
        running=job_body(running) if running else None,
        running_stage=running.stage if running else None,
        queued=[
            QueuedJobOut.model_validate({**job_body(j).model_dump(), "position": i})
            for i, j in enumerate(queued, start=1)
        ],
        recent=[job_body(j) for j in recent],
        cooldowns=[
            CooldownOut(
                pair=p, until=t.to_pydatetime(), remaining_seconds=(t - now).total_seconds()
            )
            for p, t in sorted(state.training.cooldowns().items())
        ],
        periodic=periodic_body(state),
        timestamp=now_ms(),
    )


@router.get("/periodic")
def get_periodic(state: StateDep) -> PeriodicStatus:
    """Periodic retraining: on or off, its period, when each pair is next due."""
    return periodic_body(state)


@router.post("/periodic/toggle", dependencies=[AuthDep], responses={**AUTH_ERRORS, **BODY_ERRORS})
def post_periodic_toggle(body: PeriodicToggle, state: StateDep) -> PeriodicStatus:
    """Turn periodic retraining on or off (``every`` sets its period, e.g. ``24h``)."""
    try:
        every = parse_duration(body.every, "every") if body.every is not None else None
    except ValueError as exc:
        raise ConfigError(f"Invalid request: {exc}.") from exc
    if body.every is not None and every is None:
        raise ConfigError(
            'every must be a positive duration such as 24h; to stop, send {"enabled": false}.'
        )
    state.training.set_periodic(body.enabled, every)
    return periodic_body(state)


@router.post("/periodic/run-now", dependencies=[AuthDep], responses=AUTH_ERRORS)
def post_periodic_run_now(state: StateDep) -> RunNowResponse:
    """Queue a periodic retrain of every pair now (busy and cooling-down pairs are skipped)."""
    results = [outcome_body(o) for o in state.training.run_now()]
    queued = sum(r.status == "queued" for r in results)
    return RunNowResponse(
        message=f"Queued {queued} periodic retrain(s) of {len(results)} pair(s)",
        results=results,
        timestamp=now_ms(),
    )


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
def get_job(job_id: JobId, state: StateDep) -> JobOut:
    """One training job: queued, running, succeeded, failed or cancelled."""
    job = state.jobs.get(job_id)
    if job is None:
        raise JobNotFoundError(f"No training job {job_id!r}: GET /api/train/jobs lists them.")
    return job_body(job)


@router.delete(
    "/jobs/{job_id}",
    dependencies=[AuthDep],
    responses={**CANCEL_ERRORS, 202: {"model": CancelResponse}},
)
def delete_job(job_id: JobId, state: StateDep) -> Response:
    """Cancel a job: a queued one at once (200); a running one's process is stopped (202)."""
    job = state.training.cancel(job_id)
    if job.status == JobStatus.RUNNING:
        message = (
            f"Cancellation of running job {job_id} requested: its training process is stopped "
            "(SIGTERM, then SIGKILL after a grace period) and the job ends cancelled with the "
            "stage it reached, unless it is already registering its final model."
        )
        status = 202
    else:
        message, status = f"Training job {job_id} cancelled", 200
    body = CancelResponse(message=message, job=job_body(job), timestamp=now_ms())
    return Response(body.model_dump_json(), status_code=status, media_type="application/json")


def job_body(job: JobRecord) -> JobOut:
    """A training job body."""
    return JobOut.from_object(
        job, status=job.status.value, created_at=job.created_at.astimezone(UTC)
    )


def outcome_body(outcome: AutoOutcome) -> AutoOutcomeOut:
    """What an automatic trigger did for a pair."""
    return AutoOutcomeOut(
        pair=outcome.pair,
        trigger=outcome.trigger,
        status="queued" if outcome.queued else "skipped",
        job_id=outcome.job_id,
        reason=outcome.reason,
    )


def periodic_body(state: ServingState) -> PeriodicStatus:
    """The periodic schedule's state (service clock)."""
    periodic = state.training.sync_periodic()
    settings = state.settings
    return PeriodicStatus(
        enabled=periodic.enabled,
        every_seconds=periodic.every_s,
        cooldown_seconds=settings.retrain_cooldown,
        on_drift=settings.retrain_on_drift,
        clock="replay" if state.clock.mode == "replay" else "wall",
        now=_when(state.clock.now()),
        next_due={p: _when(t) for p, t in sorted(periodic.next_due.items())},
        last_run_at=_when(periodic.last_run_at) if periodic.last_run_at is not None else None,
        last=[outcome_body(o) for _, o in sorted(periodic.last.items())],
        timestamp=now_ms(),
    )


def _when(stamp: pd.Timestamp) -> Any:
    return pd.Timestamp(stamp).to_pydatetime()
