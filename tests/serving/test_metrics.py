"""GET /metrics on a real server: Prometheus text format, route templates, counters, models."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from support import SERVED_FAMILY, SERVED_RUNTIME

from mlpkg.config import Settings
from mlpkg.serving.app import create_app

from .conftest import TOKEN, assert_error, auth


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def _value(samples, name: str, **labels: str) -> float:
    found = [v for n, ls, v in samples if n == name and labels.items() <= ls.items()]
    assert found, f"no {name} {labels}"
    return sum(found)


def test_metrics_are_prometheus_text_with_route_templates_and_model_info(start_server):
    # A fresh app (counters start at zero) of BTC and ETH only: LTC may hold a version trained
    # by test_train.py earlier in this session.
    running = start_server(store="metrics", pairs=["BTC", "ETH"])
    client = running.client
    for _ in range(3):
        assert client.get("/api/predictions/BTC").status_code == 200
    assert client.get(f"/api/predictions/BTC?model={SERVED_FAMILY}").status_code == 200
    assert client.get("/api/predictions/ETH").status_code == 503  # no model for ETH
    assert client.get("/api/nothing/here").status_code == 404

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    samples = _samples(text)

    route = "/api/predictions/{pair}"
    count = _value(
        samples,
        "mlpkg_http_request_duration_seconds_count",
        method="GET",
        route=route,
        status="200",
    )
    assert count == 4
    assert (
        _value(samples, "mlpkg_http_request_duration_seconds_count", route=route, status="503") == 1
    )
    assert (
        _value(
            samples, "mlpkg_http_request_duration_seconds_count", route="unmatched", status="404"
        )
        == 1
    )
    assert "/api/nothing/here" not in text and 'route="/api/predictions/BTC"' not in text

    version = running.state.models.peek("BTC").version
    assert (
        _value(
            samples,
            "mlpkg_predictions_total",
            pair="BTC",
            model_version=version,
            model=SERVED_FAMILY,
        )
        == 4
    )
    assert _value(samples, "mlpkg_predictions_total", pair="BTC", cached="true") == 3
    assert _value(samples, "mlpkg_prediction_cache_hits_total", pair="BTC") == 3
    info = {ls["pair"]: ls for n, ls, v in samples if n == "mlpkg_model_info" and v == 1}
    assert set(info) == {"BTC"}
    assert info["BTC"] == {
        "pair": "BTC",
        "version": version,
        "alias": "champion",
        "candidate": SERVED_FAMILY,
        "runtime": SERVED_RUNTIME,
    }
    assert _value(samples, "mlpkg_model_loaded", pair="BTC") == 1
    assert _value(samples, "mlpkg_model_loaded", pair="ETH") == 0
    assert _value(samples, "mlpkg_model_load_failures_total", pair="BTC") == 0


def test_metrics_can_require_the_token(start_server):
    running = start_server(store="metrics-auth", api_token=TOKEN, metrics_token_required=True)
    assert_error(running.client.get("/metrics"), 401, "unauthorized")
    assert_error(running.client.get("/metrics", headers=auth("wrong")), 401, "unauthorized")
    assert running.client.get("/metrics", headers=auth()).status_code == 200


def test_metrics_are_open_by_default_even_with_a_token(server):
    assert server.client.get("/metrics").status_code == 200


def test_each_app_has_its_own_registry(tmp_path):
    first, second = (create_app(Settings(home=tmp_path, pairs=["BTC"])) for _ in range(2))
    assert first.state.metrics.registry is not second.state.metrics.registry
