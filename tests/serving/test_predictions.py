"""GET /api/predictions/{pair} and /api/predictions: seed-compatible body, cache, errors."""

from __future__ import annotations

import math
import time
from datetime import datetime

import pytest
from support import SERVED_FAMILY

from mlpkg.models.signals import POLICY_META, SignalPolicy, describe_prediction

from .conftest import assert_error

# Every test here uses the session's trained model (a real, tiny training run).


def _history_count(server, pair: str = "BTC") -> int:
    return server.client.get(f"/api/predictions/{pair}/history?limit=1000").json()["count"]


def test_prediction_body_has_every_field_the_clients_read(server, tracked):
    response = server.client.get("/api/predictions/BTC")
    assert response.status_code == 200, response.text
    body = response.json()
    pred = body["prediction"]
    p = pred["prediction"]
    assert isinstance(p, float) and 0.0 <= p <= 1.0
    assert pred["probability"] == p
    assert math.isclose(pred["confidence"], abs(p - 0.5) * 2)
    assert pred["direction"] == ("up" if p > 0.5 else "down")
    # The version's own policy (chosen on its development folds) gives the thresholds.
    policy = SignalPolicy.from_dict(tracked.trained.bundle.extra[POLICY_META])
    expected = describe_prediction(p, strong=policy.strong, normal=policy.normal)
    assert pred["signal"] == expected.signal
    assert pred["modelType"] == SERVED_FAMILY
    meta = pred["metadata"]
    assert meta["modelName"] == "mlpkg-BTC" and meta["alias"] == "champion"
    assert meta["version"] == tracked.champion.version
    assert meta["runId"] == tracked.trained.run_id
    assert meta["featureCount"] == len(tracked.trained.bundle.feature_names)
    assert meta["horizon"] == tracked.trained.bundle.run_config.horizon
    candle, target = (datetime.fromisoformat(meta[k]) for k in ("candleTime", "targetTime"))
    assert (target - candle).total_seconds() == 3600 * meta["horizon"]
    assert body["pair"] == "BTC" and isinstance(body["timestamp"], int)
    assert isinstance(body["cached"], bool) and body["responseTime"] > 0


def test_pair_spellings_are_normalised(server):
    body = server.client.get("/api/predictions/btc_usdt").json()
    assert body["pair"] == "BTC"


def test_a_cache_hit_is_answered_from_memory_and_not_stored_twice(start_server):
    running = start_server(prediction_cache_s=60, store="cache")  # its own cache and store
    started = time.monotonic()
    first = running.client.get("/api/predictions/BTC").json()
    second = running.client.get("/api/predictions/BTC").json()
    waited_ms = (time.monotonic() - started) * 1000
    assert first["cached"] is False and first["cacheAge"] is None
    assert second["cached"] is True and 0 <= second["cacheAge"] <= waited_ms
    assert second["prediction"] == first["prediction"]
    assert second["timestamp"] == first["timestamp"]
    assert _history_count(running) == 1


def test_a_prediction_is_stored_once_per_candle_when_the_cache_is_off(start_server):
    running = start_server(prediction_cache_s=0, store="nocache")
    bodies = [running.client.get("/api/predictions/BTC").json() for _ in range(3)]
    assert [b["cached"] for b in bodies] == [False, False, False]
    history = running.client.get("/api/predictions/BTC/history").json()
    assert history["count"] == 1  # one scored prediction per (pair, version, candle)
    ids = {b["prediction"]["metadata"]["predictionId"] for b in bodies}
    assert ids == {r["id"] for r in history["predictions"]}
    stored = history["predictions"][0]
    assert stored["modelVersion"] == bodies[0]["prediction"]["metadata"]["version"]
    assert stored["candleTime"] == bodies[0]["prediction"]["metadata"]["candleTime"]
    assert stored["closeAtPrediction"] > 0 and stored["horizon"] >= 1


def test_all_pairs_answers_each_pair_even_when_one_has_no_model(server):
    response = server.client.get("/api/predictions")
    assert response.status_code == 200
    body = response.json()
    assert body["pairs"] == ["BTC", "ETH", "LTC"]
    assert set(body["predictions"]) == {"BTC", "ETH", "LTC"}
    assert 0.0 <= body["predictions"]["BTC"]["prediction"]["prediction"] <= 1.0
    eth = body["predictions"]["ETH"]
    assert eth["status"] == 503 and eth["error"] == "model_not_found"
    assert "mlpkg train --pair ETH" in eth["message"]


def test_unknown_pair_is_404_listing_the_configured_pairs(server):
    body = assert_error(server.client.get("/api/predictions/DOGE"), 404, "unknown_pair")
    assert body["pairs"] == ["BTC", "ETH", "LTC"]
    assert "DOGE" in body["message"]


@pytest.mark.parametrize("pair", ["B", "BTC!x", "A" * 30])
def test_malformed_pair_is_422(server, pair):
    body = assert_error(server.client.get(f"/api/predictions/{pair}"), 422, "invalid_parameters")
    assert "pair" in body["message"].lower()


def test_pair_without_a_model_is_503_saying_how_to_train_one(server):
    body = assert_error(server.client.get("/api/predictions/ETH"), 503, "model_not_found")
    assert "mlpkg train --pair ETH" in body["message"]
    assert "POST /api/train/ETH" in body["message"]


def test_upstream_down_is_503_naming_the_upstream(start_server, free_port):
    url = f"http://127.0.0.1:{free_port}"
    running = start_server(data_source="core", core_url=url, core_retries=0, store="core")
    body = assert_error(running.client.get("/api/predictions/BTC"), 503, "upstream_unavailable")
    assert url in body["message"] and url in body["upstream"]
    health = running.client.get("/api/health").json()
    assert health["status"] == "degraded"
    assert health["upstream"]["state"] == "error" and url in health["upstream"]["lastError"]


def test_unexpected_errors_are_500_without_internals(server, monkeypatch):
    def broken(pair):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(server.state.predictor, "peek", lambda pair: None)  # skip the cache
    monkeypatch.setattr(server.state.predictor, "predict", broken)
    response = server.client.get("/api/predictions/BTC")
    body = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "server log" in body["message"]
