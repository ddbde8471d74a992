"""GET /api/health: always 200, healthy/degraded with reasons, models, upstream, storage."""

from __future__ import annotations

from datetime import UTC, datetime

from support import poll_until

from mlpkg.serving.routes.health import LEADER_START_GRACE_S, degraded_reasons, health_body
from mlpkg.serving.schemas import StorageHealth, TrainingHealth, UpstreamHealth

from .conftest import ORIGIN

# Every test here uses the session's trained model (a real, tiny training run).


def test_health_answers_200_and_reports_the_loaded_champion(server, tracked):
    # The leader's job runner starts just after the port opens (``app.lead``): a server this
    # test is the first to use may answer before it runs.
    poll_until(
        lambda: server.client.get("/api/health").json()["training"]["workerAlive"],
        timeout=60,
        what="the leader's job runner",
    )
    response = server.client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    btc = body["models"]["BTC"]
    assert btc["loaded"] is True and btc["alias"] == "champion"
    assert btc["version"] == tracked.champion.version
    assert btc["runId"] == tracked.trained.run_id
    since_loaded = (datetime.now(UTC) - datetime.fromisoformat(btc["loadedAt"])).total_seconds()
    assert 0 < btc["ageSeconds"] <= since_loaded + 0.001  # measured just before "now"
    assert body["storage"]["state"] == "ok"
    assert body["upstream"]["source"] == "shipped"
    assert body["training"]["workerAlive"] is True
    hours, minutes, seconds = map(int, body["uptime"].split(":"))
    assert body["uptimeSeconds"] > 0  # the session's server started before this test
    assert 0 <= body["uptimeSeconds"] - (hours * 3600 + minutes * 60 + seconds) < 1.001


def test_health_is_degraded_and_says_why_when_a_pair_has_no_model(server):
    body = server.client.get("/api/health").json()
    assert body["status"] == "degraded"
    eth = body["models"]["ETH"]
    assert eth["loaded"] is False and "POST /api/train/ETH" in eth["error"]
    assert any(reason.startswith("ETH:") for reason in body["reasons"])
    assert not any(reason.startswith("BTC:") for reason in body["reasons"])


def test_health_is_healthy_when_every_pair_is_served(start_server):
    running = start_server(pairs=["BTC"], store="healthy")
    body = running.client.get("/api/health").json()
    assert body["status"] == "healthy" and body["reasons"] == [], body["reasons"]


def test_cors_allows_the_configured_origin_only(server):
    allowed = server.client.get("/api/health", headers={"Origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    other = server.client.get("/api/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_openapi_docs_list_every_endpoint(server):
    paths = server.client.get("/openapi.json").json()["paths"]
    expected = {
        "/api/health",
        "/api/predictions",
        "/api/predictions/{pair}",
        "/api/predictions/{pair}/history",
        "/api/features/{pair}",
        "/api/models/{pair}/status",
        "/api/models/{pair}/reload",
        "/api/train/{pair}",
        "/api/train/jobs/{job_id}",
        "/api/storage/stats",
        "/api/storage/cleanup",
        "/api/storage/save",
    }
    assert expected <= set(paths)
    assert server.client.get("/docs").status_code == 200


def test_a_leader_runner_not_started_yet_is_healthy_only_within_its_start_grace():
    upstream = UpstreamHealth(source="shipped", state="ok")
    storage = StorageHealth(state="ok", path="predictions.db", rows=0)
    starting = TrainingHealth(worker_alive=False, running_job=None, queued=0, leader=True)
    assert degraded_reasons({}, upstream, storage, starting, starting=True) == []
    dead = degraded_reasons({}, upstream, storage, starting, starting=False)
    assert dead == ["training worker is not running"]
    follower = TrainingHealth(worker_alive=False, running_job=None, queued=0, leader=False)
    assert degraded_reasons({}, upstream, storage, follower) == []


class _StartsWhileRead:
    """The leader's runner, seen as not started until its ``alive`` is read, started after."""

    def __init__(self, runner: object) -> None:
        self._runner = runner
        self._started = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._runner, name)

    @property
    def started(self) -> bool:
        return self._started

    @property
    def alive(self) -> bool:
        alive, self._started = self._started, True  # the thread starts just after this read
        return alive


def test_a_runner_that_starts_while_health_is_read_is_not_reported_dead(start_server, monkeypatch):
    running = start_server(pairs=["BTC"], store="racing")
    state = running.state
    assert state.lease.held and state.uptime_s < LEADER_START_GRACE_S
    monkeypatch.setattr(state, "training", _StartsWhileRead(state.training))
    body = health_body(state)
    assert "training worker is not running" not in body.reasons, body.reasons
