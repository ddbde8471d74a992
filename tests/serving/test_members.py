"""Served per member (the seed's v2 contract): ``modelType``, ``individual``, ``?model=``,
``?ensemble=false``, on the in-process app serving a stacked (lightgbm + logistic) version and
the shared single-family (lightgbm) version. The ONNX (lstm + logistic) ensemble is served by
``test_no_tensorflow.py`` on a real uvicorn subprocess.
"""

from __future__ import annotations

import pytest
from support import SERVED_FAMILY, SERVED_RUNTIME

from mlpkg.config import FAMILIES

from .conftest import assert_error

# Every test here uses the session's trained models (real, tiny training runs).
MEMBER_RUNTIMES = {SERVED_FAMILY: SERVED_RUNTIME, "logistic": "numpy"}
ENSEMBLE_RUNTIME = f"{SERVED_RUNTIME}+numpy"


@pytest.fixture(scope="module")
def xrp(ensemble_server, ensemble_tracked):
    return ensemble_server, ensemble_tracked


def _url(pair: str, query: str = "") -> str:
    return f"/api/predictions/{pair}{query}"


def test_an_ensemble_answers_with_each_members_probability(xrp):
    server, reg = xrp
    body = server.client.get(_url(reg.pair)).json()["prediction"]
    assert body["modelType"] == "ensemble"
    assert set(body["individual"]) == set(reg.members) == {SERVED_FAMILY, "logistic"}
    ensemble = body["ensemble"]
    assert ensemble["strategy"] == "stacked"
    assert ensemble["modelCount"] == 2
    assert ensemble["individualPredictions"] == body["individual"]
    assert sum(ensemble["weights"].values()) == pytest.approx(1.0)
    mixed = sum(ensemble["weights"][m] * p for m, p in body["individual"].items())
    assert body["prediction"] == pytest.approx(mixed, abs=1e-12)
    for member, p in body["individual"].items():
        assert ensemble["individualConfidences"][member] == pytest.approx(abs(p - 0.5) * 2)
    meta = body["metadata"]
    assert meta["type"] == "ensemble_prediction"
    assert (meta["candidate"], meta["member"]) == ("stacked", None)
    assert meta["runtime"] == ENSEMBLE_RUNTIME


@pytest.mark.parametrize("member", [SERVED_FAMILY, "logistic"])
def test_model_asks_for_one_members_own_prediction(xrp, member):
    server, reg = xrp
    combined = server.client.get(_url(reg.pair)).json()["prediction"]
    body = server.client.get(_url(reg.pair, f"?model={member}")).json()["prediction"]
    p = body["prediction"]
    assert body["modelType"] == member
    assert p == pytest.approx(combined["individual"][member], abs=1e-12)
    assert body["confidence"] == pytest.approx(abs(p - 0.5) * 2)
    assert body["direction"] == ("up" if p > 0.5 else "down")
    assert body["individual"] is None and body["ensemble"] is None
    meta = body["metadata"]
    assert (meta["member"], meta["candidate"], meta["type"]) == (
        member,
        "stacked",
        "individual_prediction",
    )
    assert meta["runtime"] == MEMBER_RUNTIMES[member]
    assert meta["candleTime"] == combined["metadata"]["candleTime"]


def test_ensemble_false_answers_the_member_with_the_lowest_development_log_loss(xrp):
    server, reg = xrp
    best = min(reg.member_scores, key=reg.member_scores.get)
    body = server.client.get(_url(reg.pair, "?ensemble=false")).json()["prediction"]
    assert body["modelType"] == best
    assert body["metadata"]["member"] == best
    direct = server.client.get(_url(reg.pair, f"?model={best}")).json()["prediction"]
    assert body["prediction"] == direct["prediction"]


def test_a_member_the_version_lacks_is_404_naming_its_members(xrp):
    server, reg = xrp
    body = assert_error(server.client.get(_url(reg.pair, "?model=gru")), 404, "unknown_member")
    assert body["members"] == [SERVED_FAMILY, "logistic"]
    assert "gru" in body["message"] and f"{SERVED_FAMILY}, logistic" in body["message"]


@pytest.mark.parametrize("value", ["ensemble", "LSTM", "xgboost", ""])
def test_an_unknown_model_value_is_422(xrp, value):
    server, reg = xrp
    body = assert_error(
        server.client.get(_url(reg.pair, f"?model={value}")), 422, "invalid_parameters"
    )
    assert "model" in body["message"]


def test_model_accepts_exactly_the_families():
    from typing import get_args

    from mlpkg.serving.schemas import FamilyName, ModelType

    assert get_args(FamilyName) == FAMILIES
    assert get_args(ModelType) == (*FAMILIES, "ensemble")


def test_cache_keys_and_stored_predictions_are_per_member(xrp):
    server, reg = xrp
    client = server.client
    first = {q: client.get(_url(reg.pair, q)).json() for q in ("", "?model=logistic")}
    again = {q: client.get(_url(reg.pair, q)).json() for q in ("", "?model=logistic")}
    for query, body in again.items():
        assert body["cached"] is True
        assert body["prediction"]["modelType"] == first[query]["prediction"]["modelType"]
        assert body["prediction"]["prediction"] == first[query]["prediction"]["prediction"]
    assert again[""]["prediction"]["modelType"] == "ensemble"
    assert again["?model=logistic"]["prediction"]["modelType"] == "logistic"
    history = client.get(f"/api/predictions/{reg.pair}/history").json()["predictions"]
    candle = first[""]["prediction"]["metadata"]["candleTime"]
    members = {r["member"] for r in history if r["candleTime"] == candle}
    assert {"", "logistic"} <= members  # the candidate's row and the member's, same candle


def test_status_and_health_name_the_candidate_runtime_and_members(xrp):
    server, reg = xrp
    loaded = server.client.get(f"/api/models/{reg.pair}/status").json()["loaded"]
    assert loaded["candidate"] == "stacked"
    assert loaded["runtime"] == ENSEMBLE_RUNTIME
    members = loaded["members"]
    assert {m: v["runtime"] for m, v in members.items()} == MEMBER_RUNTIMES
    assert sum(v["weight"] for v in members.values()) == pytest.approx(1.0)
    assert {m: v["devLogLoss"] for m, v in members.items()} == pytest.approx(reg.member_scores)
    health = server.client.get("/api/health").json()["models"][reg.pair]
    assert (health["candidate"], health["runtime"]) == ("stacked", ENSEMBLE_RUNTIME)


def test_a_single_family_version_answers_its_family_for_model_and_ensemble_false(server):
    client = server.client
    default = client.get(_url("BTC")).json()["prediction"]
    assert default["modelType"] == SERVED_FAMILY
    assert default["individual"] is None and default["ensemble"] is None
    assert default["metadata"]["runtime"] == SERVED_RUNTIME
    for query in (f"?model={SERVED_FAMILY}", "?ensemble=false"):
        body = client.get(_url("BTC", query)).json()["prediction"]
        assert body["modelType"] == SERVED_FAMILY
        assert body["prediction"] == default["prediction"]
        assert body["metadata"]["member"] is None  # the version's own candidate answered
    body = assert_error(client.get(_url("BTC", "?model=gru")), 404, "unknown_member")
    assert body["members"] == [SERVED_FAMILY]
