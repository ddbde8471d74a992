from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mlpkg.storage import (
    STOPPED_REASON,
    JobNotFoundError,
    JobStateError,
    JobStatus,
    JobStore,
    StorageError,
)


@pytest.fixture
def jobs(tmp_path: Path):
    with JobStore(tmp_path / "jobs.db") as store:
        yield store


def test_job_lifecycle_queued_running_succeeded(jobs):
    params = {"horizon": 5, "epochs": 2, "pairs": ["BTC"]}
    job_id = jobs.create("BTC", params)
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)

    queued = jobs.get(job_id)
    assert (queued.status, queued.pair, queued.params) == (JobStatus.QUEUED, "BTC", params)
    assert queued.started_at is None and not queued.done

    jobs.start(job_id)
    running = jobs.get(job_id)
    assert running.status == "running"
    assert running.started_at >= queued.created_at

    metrics = {"accuracy": np.float64(0.61), "folds": [0.6, 0.62]}
    jobs.finish(job_id, run_id="run1", model_version="3", promoted=True, metrics=metrics)
    done = jobs.get(job_id)
    assert done.status == JobStatus.SUCCEEDED and done.done
    assert (done.run_id, done.model_version, done.promoted) == ("run1", "3", True)
    assert done.metrics == {"accuracy": 0.61, "folds": [0.6, 0.62]}
    assert done.finished_at >= done.started_at
    assert done.error is None


def test_finish_without_outputs_stores_nulls(jobs):
    job_id = jobs.create("ETH", {})
    jobs.start(job_id)
    jobs.finish(job_id, run_id=None, model_version=None, promoted=False, metrics=None)
    done = jobs.get(job_id)
    assert (done.promoted, done.metrics, done.run_id) == (False, None, None)


def test_fail_from_running_or_queued_records_the_error(jobs):
    running = jobs.create("BTC", {})
    jobs.start(running)
    jobs.fail(running, "ValueError: not enough candles")
    queued = jobs.create("BTC", {})
    jobs.fail(queued, "cancelled")
    assert jobs.get(running).status == JobStatus.FAILED
    assert jobs.get(running).error == "ValueError: not enough candles"
    assert jobs.get(queued).status == JobStatus.FAILED


def test_invalid_transitions_are_refused(jobs):
    job_id = jobs.create("BTC", {})
    with pytest.raises(StorageError, match="only a job that is running"):
        jobs.finish(job_id, run_id=None, model_version=None, promoted=None, metrics=None)
    jobs.start(job_id)
    with pytest.raises(StorageError, match="is running"):
        jobs.start(job_id)
    jobs.fail(job_id, "boom")
    with pytest.raises(StorageError, match="is failed"):
        jobs.fail(job_id, "again")
    assert jobs.get(job_id).error == "boom"


def test_unknown_job_get_is_none_and_transitions_raise(jobs):
    assert jobs.get("0" * 32) is None
    with pytest.raises(JobNotFoundError, match="No training job"):
        jobs.start("nope")


def test_unserialisable_params_are_refused(jobs):
    with pytest.raises(StorageError, match="JSON"):
        jobs.create("BTC", {"model": object()})
    assert jobs.list() == []


def test_list_is_newest_first_with_limit_and_pair_filter(jobs):
    ids = [jobs.create(pair, {"i": i}) for i, pair in enumerate(["BTC", "ETH", "BTC", "LTC"])]
    assert [j.id for j in jobs.list()] == ids[::-1]
    assert [j.id for j in jobs.list(limit=2)] == ids[:1:-1]
    assert [j.params["i"] for j in jobs.list(pair="BTC")] == [2, 0]
    with pytest.raises(StorageError):
        jobs.list(limit=0)


def test_recover_fails_running_jobs_and_returns_queued_ones_after_a_crash(tmp_path):
    path = tmp_path / "jobs.db"
    with JobStore(path) as before_crash:
        queued = before_crash.create("BTC", {}, "periodic")
        running = before_crash.create("ETH", {})
        before_crash.start(running)
        finished = before_crash.create("LTC", {})
        before_crash.start(finished)
        before_crash.finish(finished, run_id="r", model_version="1", promoted=False, metrics={})

    with JobStore(path) as after_restart:
        assert after_restart.recover() == [queued]
        assert after_restart.recover() == [queued]  # still queued: the worker runs it again
        got = {job.id: job for job in after_restart.list()}

    assert got[running].status == JobStatus.FAILED and got[running].done
    assert STOPPED_REASON in got[running].error and got[running].finished_at is not None
    assert got[queued].status == JobStatus.QUEUED and got[queued].trigger == "periodic"
    assert got[finished].status == JobStatus.SUCCEEDED and got[finished].error is None


def test_cancel_queued_now_running_on_request_and_finished_never(jobs):
    queued = jobs.create("BTC", {})
    running = jobs.create("ETH", {}, "drift")
    jobs.start(running)
    cancelled = jobs.cancel(queued, "operator")
    assert (cancelled.status, cancelled.error) == (JobStatus.CANCELLED, "operator")
    assert cancelled.finished_at is not None and cancelled.done
    asked = jobs.cancel(running, "operator")
    assert asked.status == JobStatus.RUNNING and asked.cancel_requested_at is not None
    assert [j.id for j in jobs.active()] == [running]
    jobs.stop_cancelled(running, "stopped at a checkpoint")
    assert jobs.get(running).status == JobStatus.CANCELLED
    for job_id in (queued, running):
        with pytest.raises(JobStateError, match="already cancelled"):
            jobs.cancel(job_id, "again")
    with pytest.raises(JobNotFoundError):
        jobs.cancel("nope", "x")


def test_a_v1_job_store_migrates_interrupted_to_failed(tmp_path):
    import sqlite3

    from mlpkg.storage.jobs import _JOBS_V1

    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as conn:
        for statement in _JOBS_V1:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO jobs (id, pair, status, params, created_at, error) VALUES"
            " ('a', 'BTC', 'interrupted', '{}', '2024-01-01T00:00:00.000000+00:00', 'stopped'),"
            " ('b', 'BTC', 'succeeded', '{}', '2024-01-02T00:00:00.000000+00:00', NULL)"
        )
        conn.execute("PRAGMA user_version = 1")
    with JobStore(path) as jobs:
        got = {j.id: j for j in jobs.list()}
        assert (got["a"].status, got["a"].error, got["a"].trigger) == (
            "failed",
            "stopped",
            "manual",
        )
        assert got["b"].status == JobStatus.SUCCEEDED
        assert jobs.create("BTC", {}, "periodic")


def test_a_running_jobs_progress_event_is_stored_with_its_text_as_the_stage(jobs):
    from mlpkg.progress import ProgressEvent

    job_id = jobs.create("BTC", {})
    event = ProgressEvent("fit", "fold 2/4 lstm: fit 3.0s on 900 rows", 5, 12)
    jobs.set_progress(job_id, event)  # queued: not recorded
    assert jobs.get(job_id).progress is None
    jobs.start(job_id)
    jobs.set_progress(job_id, event)
    record = jobs.get(job_id)
    assert record.progress == event
    assert record.stage == event.text
    jobs.fail(job_id, "boom")
    assert jobs.get(job_id).progress == event  # kept when the job ends
