"""A training job's process: cancelled with SIGTERM, or killed with SIGKILL, on a real server.

Each job trains the tiny EOS run (a pair no other serving test registers) in its own process
(``python -m mlpkg.pipelines.job``). The tests act once the job's MLflow run exists (its stage
moved past loading the candles) and check what the job row and the MLflow run say afterwards,
and that the server answered all along.
"""

from __future__ import annotations

import os
import signal

import mlflow
import pytest
from support import poll_until, tiny_params

from mlpkg.tracking.runs import OWNER_PID_TAG, experiment_name

from .conftest import auth

pytestmark = pytest.mark.slow

BODY = tiny_params(models="lstm", n_folds=1, lstm_epochs=3)
"""A neural job slow enough to be cancelled mid-way: its holdout refit (a checkpoint before it
and between its batches) lies between the stage the test waits for and the final stage, which
cannot be stopped."""
KILL_BODY = tiny_params(models="lightgbm", n_folds=1)
"""SIGKILL ends the job at whatever stage it has reached: TensorFlow-free is slow enough (the
seconds of holdout, final fit and registration are left when the test acts)."""
FIRST_STAGE = "loading the candles"


def _started(running, job_id: str) -> dict:
    """Wait until the job's process reached a stage after its first (its run is open)."""

    def moved() -> dict | None:
        assert running.client.get("/api/health").status_code == 200  # the server answers
        job = running.client.get(f"/api/train/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        return job if job["stage"] not in (None, FIRST_STAGE) else None

    return poll_until(moved, timeout=300, what=f"job {job_id} to start training", every=0.1)


def _finished(running, job_id: str) -> dict:
    def done() -> dict | None:
        job = running.client.get(f"/api/train/jobs/{job_id}").json()
        return job if job["status"] not in ("queued", "running") else None

    return poll_until(done, timeout=120, what=f"job {job_id} to end", every=0.1)


def _runs_of(running, pid: int) -> list:
    uri = running.settings.resolved_tracking_uri
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(experiment_name("EOS"))
    assert experiment is not None
    return [
        run
        for run in client.search_runs([experiment.experiment_id])
        if run.data.tags.get(OWNER_PID_TAG) == str(pid)
    ]


def test_a_killed_job_process_fails_its_job_at_its_stage_and_its_run_is_killed(start_server):
    running = start_server(pairs=["EOS"], store="job-kill", api_token=None)
    job_id = running.client.post("/api/train/EOS", json=KILL_BODY).json()["jobId"]
    _started(running, job_id)
    process = running.state.training.process
    assert process is not None and process.pid != os.getpid()
    os.kill(process.pid, signal.SIGKILL)
    job = _finished(running, job_id)
    assert job["status"] == "failed", job
    assert "signal 9" in job["error"] and job["stage"] in job["error"]
    assert job["stage"] != FIRST_STAGE
    [run] = poll_until(lambda: _runs_of(running, process.pid), timeout=60, what="the run")
    assert run.info.status == "KILLED"
    assert running.client.get("/api/predictions/EOS").status_code in (200, 503)


def test_cancelling_a_running_job_stops_its_process_and_records_the_stage(start_server):
    running = start_server(pairs=["EOS"], store="job-cancel")
    job_id = running.client.post("/api/train/EOS", json=BODY, headers=auth()).json()["jobId"]
    _started(running, job_id)
    pid = running.state.training.process.pid
    cancel = running.client.delete(f"/api/train/jobs/{job_id}", headers=auth())
    assert cancel.status_code == 202, cancel.text
    job = _finished(running, job_id)
    assert job["status"] == "cancelled", job
    assert "stopped at" in job["error"] and job["stage"] in job["error"]
    assert job["modelVersion"] is None
    [run] = poll_until(lambda: _runs_of(running, pid), timeout=60, what="the run")
    assert run.info.status in ("FAILED", "KILLED")
