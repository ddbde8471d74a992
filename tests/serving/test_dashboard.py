"""The dashboard's server side without a browser: the page's files, the accuracy curve, the
vendored chart library's record, and the Grafana/Prometheus files against ``/metrics``.

The page in a real browser (Chromium, WebSocket pushes, a server restart) is tested in
``test_dashboard_browser.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from support import prediction_record

from mlpkg.config import Settings
from mlpkg.evaluation.drift import wilson_interval
from mlpkg.serving.app import create_app
from mlpkg.serving.dashboard import accuracy_series
from mlpkg.serving.routes.dashboard import ASSETS
from mlpkg.storage.predictions import PredictionStore

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "mlpkg" / "serving" / "static"
GRAFANA = ROOT / "deploy" / "grafana" / "mlpkg.json"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"
T0 = datetime(2019, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    """The app over an empty store (no model registered): the lifespan runs."""
    home = tmp_path_factory.mktemp("dashboard")
    settings = Settings(
        home=home, mlruns_dir=home / "mlruns", pairs=["BTC"], model_poll_s=0, live_scoring=False
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# ---------------------------------------------------------------- the accuracy curve


def test_the_accuracy_curve_ends_at_the_counters_with_the_same_wilson_interval():
    outcomes = [(T0 + timedelta(hours=i), i % 3 != 0, i % 2 == 0) for i in range(10)]
    points = accuracy_series(outcomes)
    assert [p.n_realised for p in points] == list(range(1, 11))
    last = points[-1]
    correct = sum(right for _, right, _ in outcomes)
    assert last.accuracy == pytest.approx(correct / 10)
    assert last.ci95 == pytest.approx(list(wilson_interval(correct, 10)))
    assert last.up_rate == pytest.approx(0.5)
    assert [p.accuracy for p in points[:3]] == [0.0, 0.5, 2 / 3]  # wrong, right, right
    assert last.time == outcomes[-1][0]


def test_a_long_curve_is_thinned_but_keeps_its_last_point():
    outcomes = [(T0 + timedelta(hours=i), i % 2 == 0, True) for i in range(1001)]
    points = accuracy_series(outcomes, max_points=100)
    assert len(points) <= 101
    assert points[-1].n_realised == 1001
    assert points[-1].accuracy == pytest.approx(501 / 1001)
    assert accuracy_series([]) == []


def test_the_stored_outcomes_of_a_version_add_up_to_its_live_accuracy_counters(tmp_path):
    hour = timedelta(hours=1)
    closes = pd.Series(
        [100.0, 101.0, 100.5, 102.0, 101.0, 103.0, 104.0],
        index=pd.DatetimeIndex([T0 + i * hour for i in range(7)], name="open_time"),
    )
    with PredictionStore(tmp_path / "predictions.db").open() as store:
        for i, (version, member) in enumerate(
            [("1", ""), ("1", ""), ("1", ""), ("2", ""), ("1", "lstm"), ("1", "")]
        ):
            store.add(
                prediction_record(
                    T0 + i * hour,
                    predicted_at=T0,
                    probability=0.6 if i % 2 else 0.4,
                    direction="up" if i % 2 else "down",
                    model_version=version,
                    close_at_prediction=float(closes.iloc[i]),
                    member=member,
                )
            )
        store.fill_outcomes("BTC", closes.iloc[:6], now=T0 + 6 * hour)  # the last stays pending
        outcomes = store.settled_outcomes("BTC", "1")
        counters = store.live_accuracy("BTC", model_version="1")
        window = store.candle_window("BTC", T0 + 2 * hour)
    assert [t for t, _, _ in outcomes] == sorted(t for t, _, _ in outcomes)
    assert len(outcomes) == counters["n_realised"] == 3  # version 1's candidate, settled
    assert sum(right for _, right, _ in outcomes) == counters["n_correct"]
    assert accuracy_series(outcomes)[-1].accuracy == pytest.approx(counters["accuracy"])
    assert [r.candle_time for r in window] == [T0 + i * hour for i in (2, 3, 5)]  # no member


# ---------------------------------------------------------------- the page's files


@pytest.mark.slow  # opens the service state (an MLflow store): seconds
def test_the_page_and_its_files_are_served_with_their_types_and_a_strict_policy(client):
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for src in re.findall(r'(?:src|href)="(/dashboard/[^"]+)"', page.text):
        answer = client.get(src)
        assert answer.status_code == 200, src
        assert answer.headers["content-type"] == ASSETS[src.rsplit("/", 1)[1]]
    assert 'src="/dashboard/dashboard.js"' in page.text


@pytest.mark.slow  # opens the service state (an MLflow store): seconds
@pytest.mark.parametrize("name", ["LICENSE-lightweight-charts", "..%2Fapp.py", "nothing.js"])
def test_only_the_page_files_are_served(client, name):
    answer = client.get(f"/dashboard/{name}")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found" and "/dashboard" in answer.json()["message"]


def test_the_page_script_only_reads():
    script = re.sub(r"//[^\n]*", "", (STATIC / "dashboard.js").read_text())  # code, not comments
    assert script.count("fetch(") == 1  # one helper makes every request: getJson
    assert not re.search(r"\b(POST|PUT|PATCH|DELETE)\b|method\s*:", script)
    assert "Authorization" not in script


def test_the_vendored_chart_library_matches_its_record():
    record = (STATIC / "vendor" / "README.md").read_text()
    library = STATIC / "vendor" / "lightweight-charts.standalone.production.js"
    version = re.search(r"lightweight-charts@(\d+\.\d+\.\d+)", record).group(1)
    assert f"Lightweight Charts™ v{version}" in library.read_text()[:300]
    assert hashlib.sha256(library.read_bytes()).hexdigest() in record
    assert "Apache License" in (STATIC / "vendor" / "LICENSE-lightweight-charts").read_text()
    assert f"Lightweight Charts™ {version}" in (STATIC / "index.html").read_text()


@pytest.mark.slow  # opens the service state (an MLflow store): seconds
def test_the_dashboard_data_of_a_pair_without_a_model_says_how_to_get_one(client):
    answer = client.get("/api/dashboard/DOGE")
    assert answer.status_code == 404 and answer.json()["error"] == "unknown_pair"
    assert client.get("/api/dashboard/BTC?limit=5").status_code == 422  # at least 10 candles
    body = client.get("/api/dashboard/BTC?limit=10").json()
    assert body["modelVersion"] is None and len(body["candles"]) == 10
    assert body["accuracy"] == [] and body["predictions"] == []
    times = [c["time"] for c in body["candles"]]
    assert times == sorted(times)


# ---------------------------------------------------------------- Grafana and Prometheus


def grafana_metric_names(dashboard: dict) -> set[str]:
    """Every metric name the dashboard's queries use."""
    names: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names |= set(re.findall(r"\b(mlpkg_[a-z0-9_]+)", target["expr"]))
    return names


def exposed_names(text: str) -> set[str]:
    """Family names and sample names (``_bucket``, ``_total``, ...) in a /metrics answer."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names |= {sample.name for sample in family.samples}
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


def test_the_grafana_dashboard_is_a_valid_dashboard_of_its_panels():
    dashboard = json.loads(GRAFANA.read_text())
    for key in ("title", "uid", "schemaVersion", "panels", "time", "templating", "version"):
        assert key in dashboard, key
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 30
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"id", "type", "title", "gridPos", "datasource", "targets"} <= set(panel), panel
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"])
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("latency", "predictions", "accuracy", "drift", "queue", "cache"):
        assert topic in titles, topic
    (variable,) = dashboard["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"


@pytest.mark.slow  # opens the service state (an MLflow store): seconds
def test_every_metric_the_grafana_dashboard_queries_is_exposed(client):
    client.get("/api/health")  # one request, so the latency histogram has a sample
    exposed = exposed_names(client.get("/metrics").text)
    wanted = grafana_metric_names(json.loads(GRAFANA.read_text()))
    assert len(wanted) >= 10
    assert wanted <= exposed, sorted(wanted - exposed)


def test_prometheus_scrapes_the_service_metrics():
    config = yaml.safe_load(PROMETHEUS.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "mlpkg"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert any(t.endswith(":3001") for c in job["static_configs"] for t in c["targets"])
