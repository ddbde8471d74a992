"""A job's progress in the API: ``stage`` as before, plus the structured event."""

from __future__ import annotations

import json
import signal

from mlpkg.pipelines.job import _Stopper
from mlpkg.progress import ProgressEvent, stage
from mlpkg.serving.routes.train import job_body
from mlpkg.storage import JobStore


def test_the_job_body_keeps_stage_and_adds_the_progress_event(tmp_path):
    with JobStore(tmp_path / "jobs.db") as jobs:
        job_id = jobs.create("BTC", {})
        jobs.start(job_id)
        before = json.loads(job_body(jobs.get(job_id)).model_dump_json())
        jobs.set_progress(job_id, ProgressEvent("fit", "fold 1/2 lstm: fit 1.0s", 1, 2))
        body = json.loads(job_body(jobs.get(job_id)).model_dump_json())
    assert before["stage"] is None and before["progress"] is None
    assert body["stage"] == "fold 1/2 lstm: fit 1.0s"
    assert body["progress"] == {"kind": "fit", "text": body["stage"], "done": 1, "total": 2}


def test_sigterm_asks_the_job_to_stop_and_progress_is_only_recorded(tmp_path):
    with JobStore(tmp_path / "jobs.db") as jobs:
        job_id = jobs.create("BTC", {})
        jobs.start(job_id)
        stopper = _Stopper(jobs, job_id)
        stopper.progress(stage("holdout: refit lstm"))
        assert not stopper.should_stop()  # reporting progress stops nothing
        stopper.on_sigterm(signal.SIGTERM, None)  # returns: no exception mid-statement
        assert stopper.should_stop()
        assert stopper.reason == "cancelled (SIGTERM)"
        assert jobs.get(job_id).stage == "holdout: refit lstm"
