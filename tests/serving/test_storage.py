"""Storage endpoints and the guards of every mutating endpoint (token, body size)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support import prediction_record

from mlpkg.storage import PredictionRecord

from .conftest import TOKEN, assert_error, auth

# Every test here uses the session's trained model (a real, tiny training run).

MUTATING = [
    "/api/storage/save",
    "/api/storage/cleanup?maxAgeHours=1",
    "/api/train/BTC",
    "/api/models/BTC/reload",
]


def _record(served: datetime) -> PredictionRecord:
    return prediction_record(
        served - timedelta(hours=1), pair="ETH", predicted_at=served, model_name="mlpkg-ETH"
    )


def test_stats_describe_the_store(server):
    assert server.client.get("/api/predictions/BTC").status_code == 200
    body = server.client.get("/api/storage/stats").json()
    storage = body["storage"]
    assert storage["rows"] >= 1 and storage["rowsPerPair"]["BTC"] >= 1
    assert storage["journalMode"] == "wal" and storage["schemaVersion"] >= 1
    assert body["cachedPredictions"] >= 1


def test_cleanup_deletes_only_rows_older_than_the_cutoff(server):
    store = server.state.store
    now = datetime.now(UTC)
    old_id = store.add(_record(now - timedelta(hours=30)))
    recent_id = store.add(_record(now - timedelta(hours=2)))
    response = server.client.post("/api/storage/cleanup", json={"maxAgeHours": 24}, headers=auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cleanedItems"] >= 1 and body["maxAgeHours"] == 24
    assert store.get(old_id) is None
    assert store.get(recent_id) is not None


@pytest.mark.parametrize(
    ("kwargs"),
    [
        {"json": {"maxAgeHours": 0}},
        {"json": {"maxAgeHours": -5}},
        {"json": {}},
        {"params": {"maxAgeHours": "soon"}},
        {},
    ],
)
def test_cleanup_needs_a_positive_retention(server, kwargs):
    response = server.client.post("/api/storage/cleanup", headers=auth(), **kwargs)
    assert_error(response, 422, "invalid_parameters")


def test_cleanup_accepts_the_retention_as_a_query_parameter(server):
    response = server.client.post("/api/storage/cleanup?maxAgeHours=100000", headers=auth())
    assert response.status_code == 200 and response.json()["maxAgeHours"] == 100000


def test_save_checkpoints_the_write_ahead_log(start_server):
    running = start_server(api_token=TOKEN, prediction_cache_s=0, store="save")
    assert running.client.get("/api/predictions/BTC").status_code == 200  # one stored row
    body = running.client.post("/api/storage/save", headers=auth()).json()
    assert body["checkpointedFrames"] > 0 and body["walSizeBytesBefore"] > 0
    assert body["walSizeBytesAfter"] == 0
    again = running.client.post("/api/storage/save", headers=auth()).json()
    assert again["checkpointedFrames"] == 0 and again["walSizeBytesBefore"] == 0


@pytest.mark.parametrize("path", MUTATING)
def test_mutating_endpoints_need_the_bearer_token(server, path):
    missing = assert_error(server.client.post(path), 401, "unauthorized")
    assert "Bearer" in missing["message"]
    wrong = server.client.post(path, headers=auth("wrong-token"))
    assert_error(wrong, 401, "unauthorized")
    assert wrong.headers["www-authenticate"] == "Bearer"
    scheme = server.client.post(path, headers={"Authorization": "Basic " + "x" * 8})
    assert_error(scheme, 401, "unauthorized")


def test_the_right_token_is_accepted(server):
    response = server.client.post("/api/storage/save", headers=auth())
    assert response.status_code == 200


def test_without_a_configured_token_mutating_endpoints_are_open(start_server):
    running = start_server(store="open", api_token=None)
    assert running.client.post("/api/storage/save").status_code == 200
    response = running.client.post("/api/train/BTC", json={"epochs": 0})
    assert_error(response, 422, "invalid_parameters")


def test_bodies_over_64_kib_are_413(server):
    big = {"epochs": 1, "padding": "x" * 70_000}
    response = server.client.post("/api/train/BTC", json=big, headers=auth())
    assert_error(response, 413, "body_too_large")


def test_a_chunked_body_over_the_limit_is_413(server):
    def chunks():
        for _ in range(20):
            yield b" " * 8192

    response = server.client.post(
        "/api/train/BTC",
        content=chunks(),
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert_error(response, 413, "body_too_large")


def test_unknown_routes_and_methods_use_the_error_shape(server):
    assert_error(server.client.get("/api/nothing-here"), 404, "not_found")
    assert_error(server.client.delete("/api/health"), 405, "method_not_allowed")
