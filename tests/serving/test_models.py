"""Model status, reloads, and a broken new champion that must not replace the served one."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import pytest
from support import SERVED_FAMILY, poll_until

from mlpkg.tracking import registry

from .conftest import assert_error, auth

# Every test here uses the session's trained model (a real, tiny training run).

POLL_S = 0.05
WAIT_S = 60.0


def test_status_lists_versions_metrics_vs_baselines_and_live_accuracy(server, tracked):
    response = server.client.get("/api/models/BTC/status")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["modelName"] == "mlpkg-BTC" and body["alias"] == "champion"
    versions = {v["version"]: v for v in body["versions"]}
    assert "champion" in versions[tracked.champion.version]["aliases"]
    champion = body["champion"]
    assert champion["version"] == tracked.champion.version
    assert champion["runId"] == tracked.trained.run_id
    assert champion["candidate"] == SERVED_FAMILY and champion["decision"] in ("promoted", "manual")
    run = mlflow.MlflowClient().get_run(tracked.trained.run_id)
    # Development folds and holdout are reported separately, never mixed.
    dev, holdout = champion["development"], champion["holdout"]
    family, metrics = SERVED_FAMILY, run.data.metrics
    assert set(dev) == {family, "majority", "always_up", "persistence", "logistic"}
    assert dev[family]["log_loss"] == pytest.approx(metrics[f"dev_{family}_log_loss_mean"])
    assert dev[family]["accuracy"] == pytest.approx(metrics[f"dev_{family}_accuracy_mean"])
    assert set(holdout) == {family, "majority", "always_up", "persistence"}  # no uncounted use
    assert holdout[family]["log_loss"] == pytest.approx(metrics[f"holdout_{family}_log_loss"])
    assert holdout[family]["log_loss"] != dev[family]["log_loss"]
    assert champion["holdoutUses"] == 1  # counted by time overlap (docs/holdout.md)
    assert champion["holdoutAlpha"] == pytest.approx(0.05 * 6 / math.pi**2)
    assert "dev" in champion["significance"] and "holdout" in champion["significance"]
    assert body["served"]["version"] == tracked.champion.version
    assert body["loaded"]["version"] == tracked.champion.version
    assert body["loaded"]["error"] is None
    live = body["liveAccuracy"]
    assert {"nRealised", "nCorrect", "accuracy", "nPending", "ci95", "upRate"} <= set(live)
    loaded = body["liveAccuracyLoadedVersion"]
    assert loaded["modelVersion"] == tracked.champion.version
    assert loaded["walkForwardAccuracy"] == pytest.approx(
        run.data.metrics[f"dev_{SERVED_FAMILY}_accuracy_mean"], abs=1e-6
    )  # the version's dev_accuracy tag, set at registration


def test_status_of_a_pair_without_a_model_says_so(server):
    body = server.client.get("/api/models/ETH/status").json()
    assert body["versions"] == [] and body["champion"] is None
    assert body["loaded"]["loaded"] is False and "train" in body["loaded"]["error"]


def test_status_of_an_unknown_pair_is_404(server):
    assert_error(server.client.get("/api/models/ZZZ/status"), 404, "unknown_pair")


def _register_copy(tracked, tmp_path: Path, *, corrupt: bool) -> str:
    """Register a copy of the champion's files as a new version (optionally corrupted)."""
    source = mlflow.artifacts.download_artifacts(
        f"models:/mlpkg-BTC/{tracked.champion.version}", dst_path=str(tmp_path / "copy")
    )
    if corrupt:  # the file the LightGBM member is served from (the booster's text)
        member = Path(source) / "artifacts" / "bundle" / "members" / SERVED_FAMILY
        (member / "booster.txt").write_bytes(b"not a model")
    client = mlflow.MlflowClient()
    version = client.create_model_version(
        "mlpkg-BTC", source=Path(source).as_uri(), run_id=tracked.champion.run_id
    )
    return str(version.version)


def test_a_champion_that_fails_to_load_never_replaces_the_served_one(
    tracked, start_server, tmp_path
):
    running = start_server(model_poll_s=POLL_S, store="reload", prediction_cache_s=0)
    client = running.client
    good = tracked.champion.version
    bad = _register_copy(tracked, tmp_path / "bad", corrupt=True)
    try:
        registry.promote("BTC", bad)
        status = poll_until(
            lambda: (s := client.get("/api/models/BTC/status").json())["loaded"]["error"] and s,
            timeout=WAIT_S,
            what="the poller to report the load error",
            every=POLL_S,
        )
        assert f"Version {bad}" in status["loaded"]["error"]
        assert "missing or corrupt" in status["loaded"]["error"]  # the reason, not only a path
        assert status["loaded"]["version"] == good
        served = client.get("/api/predictions/BTC").json()["prediction"]["metadata"]
        assert served["version"] == good
        health = client.get("/api/health").json()
        assert health["status"] == "degraded"
        assert any(f"Version {bad}" in reason for reason in health["reasons"])
    finally:
        registry.promote("BTC", good)
    poll_until(
        lambda: client.get("/api/models/BTC/status").json()["loaded"]["error"] is None,
        timeout=WAIT_S,
        what="the error to clear once the alias is back",
        every=POLL_S,
    )


def test_the_poller_loads_a_moved_champion(tracked, start_server, tmp_path):
    running = start_server(model_poll_s=POLL_S, store="moved", prediction_cache_s=0)
    good = tracked.champion.version
    new = _register_copy(tracked, tmp_path / "good", corrupt=False)
    try:
        registry.promote("BTC", new)
        poll_until(
            lambda: running.client.get("/api/health").json()["models"]["BTC"]["version"] == new,
            timeout=WAIT_S,
            what="the poller to load the new champion",
            every=POLL_S,
        )
        body = running.client.get("/api/predictions/BTC").json()
        assert body["prediction"]["metadata"]["version"] == new
        assert math.isfinite(body["prediction"]["prediction"])
    finally:
        registry.promote("BTC", good)


def test_reload_needs_the_token_and_reports_the_outcome(server, tracked):
    assert_error(server.client.post("/api/models/BTC/reload"), 401, "unauthorized")
    response = server.client.post("/api/models/BTC/reload", headers=auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "unchanged"
    assert body["loaded"]["version"] == tracked.champion.version
