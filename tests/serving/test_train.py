"""POST /api/train/{pair} and GET /api/train/jobs/{id}: a real training run in the worker."""

from __future__ import annotations

import threading

import pytest

from mlpkg.storage import JobStore

from .conftest import TINY, assert_error, auth

# Every test here uses the session's trained model (a real, tiny training run).
pytestmark = pytest.mark.slow

WAIT_S = 300.0
POLL_S = 0.1


def _wait_done(client, job_id: str) -> dict:
    pause = threading.Event()
    for _ in range(int(WAIT_S / POLL_S)):
        job = client.get(f"/api/train/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "interrupted"):
            return job
        pause.wait(POLL_S)
    raise AssertionError(f"training job {job_id} did not finish")


def test_a_training_job_runs_in_the_background_and_succeeds(server):
    response = server.client.post("/api/train/LTC", json=TINY, headers=auth())
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["pair"] == "LTC"
    assert accepted["params"]["lstm_epochs"] == 1 and accepted["params"]["source"] == "shipped"
    assert accepted["statusUrl"] == f"/api/train/jobs/{accepted['jobId']}"
    job = _wait_done(server.client, accepted["jobId"])
    assert job["status"] == "succeeded", job["error"]
    assert job["runId"] and job["modelVersion"] and job["startedAt"] and job["finishedAt"]
    assert isinstance(job["promoted"], bool)
    assert job["metrics"]["candidate"] == "lstm"
    assert {"dev_log_loss_mean", "holdout_log_loss", "holdout_uses"} <= set(job["metrics"])
    status = server.client.get("/api/models/LTC/status").json()
    versions = {v["version"]: v for v in status["versions"]}
    assert "candidate" in versions[job["modelVersion"]]["aliases"]
    health = server.client.get("/api/health").json()["models"]["LTC"]
    # The worker reloads the pair before it takes the next job; a promoted run is served.
    assert health["loaded"] is job["promoted"]
    if job["promoted"]:
        assert health["version"] == job["modelVersion"]
    listed = server.client.get("/api/train/jobs").json()
    assert accepted["jobId"] in {j["id"] for j in listed["jobs"]}


@pytest.mark.parametrize(
    "body", [{"epochs": 0}, {"epochs": "many"}, {"no_such_param": 1}, {"pair": "ETH"}, [1, 2]]
)
def test_bad_training_parameters_are_422_and_queue_nothing(server, body):
    before = server.client.get("/api/train/jobs").json()["count"]
    response = server.client.post("/api/train/LTC", json=body, headers=auth())
    assert_error(response, 422, "invalid_parameters")
    assert server.client.get("/api/train/jobs").json()["count"] == before


def test_training_an_unknown_pair_is_404(server):
    assert_error(server.client.post("/api/train/DOGE", headers=auth()), 404, "unknown_pair")


def test_an_unknown_job_is_404(server):
    assert_error(server.client.get("/api/train/jobs/0123abcd"), 404, "job_not_found")


def test_jobs_left_running_by_a_dead_process_are_marked_interrupted(tracked, start_server):
    with JobStore(tracked.home / "dead" / "jobs.db") as jobs:
        job_id = jobs.create("BTC", {"epochs": 1})
        jobs.start(job_id)
    running = start_server(store="dead")
    job = running.client.get(f"/api/train/jobs/{job_id}").json()
    assert job["status"] == "interrupted" and "submit it again" in job["error"]
