"""History of served predictions, realised outcomes and live accuracy."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from support import prediction_record

from mlpkg.storage import PredictionRecord, PredictionStore

from .conftest import assert_error

# Every test here uses the session's trained model (a real, tiny training run).

HOUR = timedelta(hours=1)


def _old_prediction(candles, *, back: int, direction: str) -> PredictionRecord:
    candle_time = candles.index[-back].to_pydatetime()
    return prediction_record(
        candle_time,
        horizon=5,
        probability=0.8 if direction == "up" else 0.2,
        direction=direction,
        confidence=0.6,
        signal="BUY" if direction == "up" else "SELL",
        model_version="0",
        close_at_prediction=float(candles["close"].iloc[-back]),
    )


def test_outcomes_fill_for_predictions_whose_horizon_has_passed(tracked, start_server, btc_full):
    path = tracked.home / "outcomes" / "predictions.db"
    with PredictionStore(path) as store:
        up_id = store.add(_old_prediction(btc_full, back=50, direction="up"))
        down_id = store.add(_old_prediction(btc_full, back=40, direction="down"))
    running = start_server(prediction_cache_s=0, store="outcomes")
    assert running.client.get("/api/predictions/BTC").status_code == 200
    body = running.client.get("/api/predictions/BTC/history").json()
    assert body["count"] == 3
    by_id = {r["id"]: r for r in body["predictions"]}
    for record_id, back in ((up_id, 50), (down_id, 40)):
        row = by_id[record_id]
        realised_close = float(btc_full["close"].iloc[-back + 5])
        base = float(btc_full["close"].iloc[-back])
        assert row["realisedClose"] == pytest.approx(realised_close)
        assert row["realisedDirection"] == ("up" if realised_close > base else "down")
        assert row["correct"] == (row["realisedDirection"] == row["direction"])
    fresh = body["predictions"][0]
    assert fresh["realisedDirection"] is None and fresh["correct"] is None
    # Live accuracy is per model version, over unique candles: the served one is pending.
    live = body["liveAccuracy"]
    assert (live["modelVersion"], live["nRealised"], live["nPending"]) == (
        fresh["modelVersion"],
        0,
        1,
    )
    old = next(a for a in body["liveAccuracyByVersion"] if a["modelVersion"] == "0")
    assert old["nRealised"] == 2 and old["nPending"] == 0
    assert old["nCorrect"] == sum(by_id[i]["correct"] for i in (up_id, down_id))


def test_repeated_requests_for_a_candle_store_one_prediction(start_server):
    running = start_server(prediction_cache_s=0, store="once")
    answers = [running.client.get("/api/predictions/BTC").json() for _ in range(3)]
    ids = {a["prediction"]["metadata"]["predictionId"] for a in answers}
    assert len(ids) == 1 and len({a["prediction"]["probability"] for a in answers}) == 1
    assert len({a["timestamp"] for a in answers}) == 1  # when it was first computed
    body = running.client.get("/api/predictions/BTC/history").json()
    assert body["count"] == 1 and body["predictions"][0]["id"] in ids
    assert running.client.get("/api/health").json()["storage"]["rows"] == 1


def test_history_grows_newest_first_and_honours_limit_and_since(start_server, tracked, btc_full):
    running = start_server(prediction_cache_s=0, store="grow")
    client = running.client
    start = datetime.now(UTC)
    with PredictionStore(tracked.home / "grow" / "predictions.db") as store:
        for back in (50, 40):  # two other candles, served now (another connection)
            old = _old_prediction(btc_full, back=back, direction="up")
            store.add(dataclasses.replace(old, predicted_at=datetime.now(UTC)))
    assert client.get("/api/predictions/BTC").status_code == 200
    body = client.get("/api/predictions/BTC/history").json()
    assert body["count"] == 3
    served = [r["predictedAt"] for r in body["predictions"]]
    assert served == sorted(served, reverse=True)
    assert client.get("/api/predictions/BTC/history?limit=2").json()["count"] == 2
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert client.get("/api/predictions/BTC/history", params={"since": later}).json()["count"] == 0
    since = start.isoformat()
    assert client.get("/api/predictions/BTC/history", params={"since": since}).json()["count"] == 3


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "limit=abc", "since=yesterday", "since=2024-13-40"]
)
def test_bad_history_query_values_are_422(server, query):
    response = server.client.get(f"/api/predictions/BTC/history?{query}")
    body = assert_error(response, 422, "invalid_parameters")
    assert body["details"] and query.split("=")[0] in body["message"]


def test_history_of_an_unknown_pair_is_404(server):
    assert_error(server.client.get("/api/predictions/XMR/history"), 404, "unknown_pair")
