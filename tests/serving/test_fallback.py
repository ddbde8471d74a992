"""A pair whose model never passed the promotion rule: served as its candidate, and labelled."""

from __future__ import annotations

import mlflow
import pytest
from support import mlflow_store

from mlpkg.evaluation.promotion import PromotionDecision
from mlpkg.tracking import registry

from .conftest import assert_error, make_settings, run_server


@pytest.fixture(scope="module")
def candidate_only(tracked):
    """Register the tiny BTC model as mlpkg-EOS with only the candidate alias.

    EOS: no other serving test registers it (XRP is the ensemble pair of test_members).
    """
    # The global URIs may point at another test's store: register into the session store.
    with mlflow_store(make_settings(tracked.home).resolved_tracking_uri):
        client = mlflow.MlflowClient()
        source = client.get_model_version("mlpkg-BTC", tracked.trained.version).source
        rejected = PromotionDecision(False, (), "lstm is not promoted: fails beats_naive")
        registry.register_version(
            "EOS",
            source,
            tracked.trained.run_id,
            candidate="lstm",
            decision=rejected,
            dev_log_loss=0.69,
            holdout_log_loss=0.70,
        )
        assert registry.alias_version("EOS", registry.CHAMPION) is None
    return tracked


def test_a_pair_without_champion_serves_its_candidate_and_says_so(candidate_only):
    # Thresholds at 0: any lean is a STRONG signal, so a HOLD can only come from the rule.
    settings = make_settings(
        candidate_only.home,
        store="fallback",
        pairs=["BTC", "EOS"],
        signal_strong=0.0,
        signal_normal=0.0,
    )
    with run_server(settings) as server:
        body = server.client.get("/api/predictions/EOS").json()
        metadata = body["prediction"]["metadata"]
        assert metadata["alias"] == "candidate"
        assert 0.0 <= body["prediction"]["prediction"] <= 1.0
        assert body["prediction"]["signal"] == "HOLD"  # no trade signal from a rejected model
        assert metadata["promoted"] is False
        assert "fails beats_naive" in metadata["promotion"]
        champion = server.client.get("/api/predictions/BTC").json()
        assert champion["prediction"]["metadata"]["alias"] == "champion"
        assert champion["prediction"]["metadata"]["promoted"] is True
        assert champion["prediction"]["signal"].startswith("STRONG_")
        health = server.client.get("/api/health").json()
    eos = health["models"]["EOS"]
    assert eos["loaded"] and eos["alias"] == "candidate"
    assert "no champion yet" in eos["note"] and "signal HOLD (not promoted)" in eos["note"]
    assert health["status"] == "degraded"
    assert any(r.startswith("EOS: no champion yet") for r in health["reasons"])


def test_without_the_fallback_a_pair_without_champion_is_503(candidate_only):
    settings = make_settings(
        candidate_only.home, store="strict", pairs=["BTC", "EOS"], serve_fallback_candidate=False
    )
    with run_server(settings) as server:
        body = assert_error(server.client.get("/api/predictions/EOS"), 503, "model_not_found")
    assert "mlpkg promote --pair EOS" in body["message"]
