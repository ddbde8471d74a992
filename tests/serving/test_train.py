"""POST /api/train/{pair} and GET /api/train/jobs/{id}: a real training run in the worker."""

from __future__ import annotations

import pytest
from support import SERVED_FAMILY, poll_until

from mlpkg.storage import JobStore

from .conftest import TRAIN_BODY, assert_error, auth

# Every test here uses the session's trained model (a real, tiny training run).

WAIT_S = 300.0
POLL_S = 0.1


def _wait_done(client, job_id: str) -> dict:
    def finished() -> dict | None:
        job = client.get(f"/api/train/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return poll_until(finished, timeout=WAIT_S, what=f"training job {job_id}", every=POLL_S)


def test_a_training_job_runs_in_the_background_and_succeeds(server):
    response = server.client.post("/api/train/LTC", json=TRAIN_BODY, headers=auth())
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["pair"] == "LTC"
    assert (
        accepted["params"]["lightgbm_n_estimators"] == 30
        and accepted["params"]["source"] == "shipped"
    )
    assert accepted["statusUrl"] == f"/api/train/jobs/{accepted['jobId']}"
    job = _wait_done(server.client, accepted["jobId"])
    assert job["status"] == "succeeded", job["error"]
    assert job["runId"] and job["modelVersion"] and job["startedAt"] and job["finishedAt"]
    assert isinstance(job["promoted"], bool)
    assert job["metrics"]["candidate"] == SERVED_FAMILY
    assert {"dev_log_loss_mean", "holdout_log_loss", "holdout_uses"} <= set(job["metrics"])
    status = server.client.get("/api/models/LTC/status").json()
    versions = {v["version"]: v for v in status["versions"]}
    assert "candidate" in versions[job["modelVersion"]]["aliases"]
    # The worker reloads the pair once the job succeeded (it used to race this read: loading
    # through Keras was slower than the test). A promoted run is served as the champion, a
    # rejected one as the candidate fallback (MLPKG_SERVE_FALLBACK_CANDIDATE, on by default).
    health = poll_until(
        lambda: (h := server.client.get("/api/health").json()["models"]["LTC"])["loaded"] and h,
        timeout=WAIT_S,
        what="LTC to be loaded",
        every=POLL_S,
    )
    assert health["loaded"] is True and health["version"] == job["modelVersion"]
    assert health["alias"] == ("champion" if job["promoted"] else "candidate")
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


def test_jobs_left_running_by_a_dead_process_are_marked_failed(tracked, start_server):
    with JobStore(tracked.home / "dead" / "jobs.db") as jobs:
        job_id = jobs.create("BTC", {"epochs": 1})
        jobs.start(job_id)
    running = start_server(store="dead")
    job = running.client.get(f"/api/train/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["trigger"] == "manual"
    assert "the process stopped while the job ran; submit it again" in job["error"]


def test_periodic_retraining_is_operated_through_the_api(start_server):
    running = start_server(pairs=["BTC"], store="periodic", api_token="op-token")
    client, headers = running.client, auth("op-token")
    status = client.get("/api/train/periodic").json()
    assert (status["enabled"], status["everySeconds"], status["clock"]) == (False, None, "wall")
    toggle = "/api/train/periodic/toggle"
    assert client.post(toggle, json={"enabled": True}).status_code == 401
    assert_error(
        client.post(toggle, json={"enabled": True}, headers=headers), 422, "invalid_parameters"
    )
    assert_error(
        client.post(toggle, json={"enabled": True, "every": "soon"}, headers=headers),
        422,
        "invalid_parameters",
    )
    on = client.post(toggle, json={"enabled": True, "every": "12h"}, headers=headers).json()
    assert on["enabled"] and on["everySeconds"] == 43200.0
    assert client.get("/api/train/queue").json()["periodic"]["enabled"]
    off = client.post(toggle, json={"enabled": False}, headers=headers).json()
    assert not off["enabled"]

    ran = client.post("/api/train/periodic/run-now", headers=headers).json()
    [result] = ran["results"]
    assert (result["pair"], result["trigger"], result["status"]) == ("BTC", "periodic", "queued")
    again = client.post("/api/train/periodic/run-now", headers=headers).json()["results"][0]
    assert again["status"] == "skipped" and "already" in again["reason"]
    queue = client.get("/api/train/queue").json()
    assert [j["id"] for j in [*queue["queued"], queue["running"]] if j] == [result["jobId"]]
    cancel = client.delete(f"/api/train/jobs/{result['jobId']}", headers=headers)
    assert cancel.status_code in (200, 202), cancel.text
    job = _wait_done(client, result["jobId"])
    assert job["status"] == "cancelled" and job["trigger"] == "periodic"
