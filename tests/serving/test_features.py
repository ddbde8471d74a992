"""GET /api/features/{pair}: the served model's feature row for the latest candle."""

from __future__ import annotations

import math

from mlpkg.features.build import feature_names

from .conftest import assert_error

# Every test here uses the session's trained model (a real, tiny training run).


def test_features_are_the_served_models_features_of_the_latest_candle(server, tracked):
    response = server.client.get("/api/features/BTC")
    assert response.status_code == 200, response.text
    body = response.json()
    features = body["features"]
    names = list(tracked.trained.bundle.feature_names)
    assert features["names"] == names
    assert names == feature_names(tracked.trained.bundle.run_config.features)
    assert features["count"] == len(names) == len(features["values"])
    assert all(v is not None and math.isfinite(v) for v in features["values"])
    assert features["modelVersion"] == tracked.champion.version
    prediction = server.client.get("/api/predictions/BTC").json()
    assert features["candleTime"] == prediction["prediction"]["metadata"]["candleTime"]


def test_features_work_without_a_model_using_the_default_config(server):
    body = server.client.get("/api/features/ETH").json()
    assert body["features"]["count"] > 0 and body["features"]["modelVersion"] is None


def test_features_of_an_unknown_pair_are_404(server):
    assert_error(server.client.get("/api/features/NOPE"), 404, "unknown_pair")
