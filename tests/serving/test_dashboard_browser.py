"""The dashboard page in a real browser: Debian's Chromium driven by Playwright, on a replay.

A tiny LightGBM model of the pair ``DASH`` (a user file of real EOS candles, a pair no other
test registers) is trained on candles up to ``DATA_END``; a real uvicorn server replays the file
past it at one candle per second, so the live loop pushes a prediction on ``/ws/predictions``
every second and settles each one ``horizon`` candles later. The page must load without a
console error, draw each pushed prediction within a second (its table row and its chart marker),
show settled outcomes, only ever read (GET and the WebSocket), and reconnect by itself when the
server stops and starts again on the same port.

Chromium is the system's (``apt-get install -y chromium``; ``make install`` does it when it is
missing); Playwright never downloads a browser here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import uvicorn
from support import free_port, poll_until, train_champion

from mlpkg.config import Settings
from mlpkg.data.sources import find_gaps, load_shipped
from mlpkg.serving.app import create_app

from .conftest import TOKEN, Registry, Running, make_replay_settings, make_settings, run_uvicorn
from .test_dashboard import GRAFANA, exposed_names, grafana_metric_names

pytestmark = pytest.mark.slow

PAIR = "DASH"
DATA_END = "2019-08-20T00:00:00+00:00"
FILE_END = "2019-08-23T00:00:00+00:00"
START_S = 120.0
DRAW_S = 1.0
"""The page must draw a pushed prediction within a second."""
CHROMIUM_PATHS = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str:
    """The system Chromium (``MLPKG_TEST_CHROMIUM`` overrides); fail saying how to install it."""
    found = os.environ.get("MLPKG_TEST_CHROMIUM") or next(
        (p for p in map(shutil.which, CHROMIUM_PATHS) if p), None
    )
    if not found:
        pytest.fail("No Chromium on PATH: run `make install` (or `apt-get install -y chromium`).")
    return found


@dataclass(frozen=True)
class Replayed:
    """The tiny DASH champion and the folder of the replayed file."""

    version: str
    data_dir: Path


@pytest.fixture(scope="module")
def replayed(tracked: Registry, tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """Write DASH.csv (real EOS candles), train DASH up to DATA_END, make it champion."""
    candles = load_shipped("EOS").loc[pd.Timestamp("2019-07-01", tz="UTC") : pd.Timestamp(FILE_END)]
    assert find_gaps(candles).empty, "the replayed period must have no missing candle"
    folder = tmp_path_factory.mktemp("dashboard-data")
    candles.to_csv(folder / f"{PAIR}.csv")
    settings = make_settings(tracked.home, pairs=[PAIR], data_dir=folder)
    served = {"source": "file", "data_end": DATA_END, "models": "lightgbm"}
    result = train_champion(tracked.home, settings, pair=PAIR, **served).trained
    return Replayed(result.version, folder)


def replay_settings(tracked: Registry, replayed: Replayed) -> Settings:
    """One candle per replayed second, live loop on, a token set (the page must not need it)."""
    return make_replay_settings(
        tracked.home,
        "dashboard",
        replayed.data_dir,
        3600,
        pairs=[PAIR],
        live_poll_s=1,
        api_token="dashboard-token",
        prediction_cache_s=60,
    )


@contextmanager
def serve(settings: Settings, port: int) -> Iterator[str]:
    """Run the app on ``port`` (a fixed one, so a restart comes back at the same address)."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-dashboard", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        poll_until(lambda: server.started or not thread.is_alive(), timeout=START_S, what="start")
        assert server.started, "the server did not start (see the log)"
        yield base
    finally:
        server.should_exit = True
        thread.join(30)
        assert not thread.is_alive(), "the server did not stop"


def _port_free(port: int) -> bool:
    """Nobody listens on ``port`` (closed connections in TIME_WAIT do not count, as for uvicorn)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Browser:
    """The page, what its console said and which requests it made."""

    page: Any
    errors: list[str]
    methods: set[str]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless system Chromium (no sandbox: the tests run as root in CI)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


def open_page(chromium: Any, url: str) -> Browser:
    """Open the dashboard, recording console errors and request methods."""
    page = chromium.new_page(viewport={"width": 1400, "height": 1400})
    seen = Browser(page, [], set())
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    page.on("request", lambda r: seen.methods.add(r.method))
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    return seen


def test_the_page_draws_pushed_predictions_and_outcomes_and_reconnects(tracked, replayed, browser):
    settings = replay_settings(tracked, replayed)
    port = free_port()
    with serve(settings, port) as base:
        seen = open_page(browser, f"{base}/dashboard")
        page = seen.page
        assert page.get_attribute("#conn", "data-state") == "live"

        # A prediction pushed on the WebSocket: its row at once, its chart marker within a
        # second of the message's arrival (both times measured in the page).
        page.wait_for_function("() => window.mlpkgDashboard.received > 0", timeout=60_000)
        pushed = page.evaluate("window.mlpkgDashboard.lastPushed")
        assert page.query_selector(f'tr[data-prediction-id="{pushed}"]') is not None
        page.wait_for_function(
            "id => id in window.mlpkgDashboard.drawnAt", arg=pushed, timeout=5000
        )
        delay_ms = page.evaluate(
            "id => window.mlpkgDashboard.drawnAt[id] - window.mlpkgDashboard.receivedAt[id]",
            pushed,
        )
        # Negative: the page's history fetch drew the prediction just before its message
        # arrived (the leader's loop starts with the port open), which meets the goal too.
        assert delay_ms < DRAW_S * 1000, delay_ms
        assert str(pushed) in page.get_attribute("#candles", "data-ids").split()

        # Outcomes settle `horizon` candles later: the table and the chart show them.
        page.wait_for_selector(
            'tr[data-outcome="correct"], tr[data-outcome="wrong"]', timeout=30_000
        )
        page.wait_for_function(
            "() => Number(document.querySelector('#candles').dataset.settled) > 0",
            timeout=5000,
        )
        page.wait_for_function(
            "() => Number(document.querySelector('#accuracy').dataset.points) > 0", timeout=5000
        )
        assert page.text_content("#model dd").startswith(replayed.version)
        assert page.get_attribute("#challenger", "data-state") == "none"
        assert seen.errors == [], seen.errors
        _check_metrics(base)

    # The server stops: the page says so and keeps trying.
    page.wait_for_selector('#conn[data-state="disconnected"]', timeout=10_000)
    assert "reconnecting" in page.text_content("#conn")
    poll_until(lambda: _port_free(port), timeout=30, what="the port to be free again")
    received = page.evaluate("window.mlpkgDashboard.received")
    with serve(settings, port):
        page.wait_for_selector('#conn[data-state="live"]', timeout=15_000)
        page.wait_for_function(
            "n => window.mlpkgDashboard.received > n", arg=received, timeout=30_000
        )
        assert page.evaluate("window.mlpkgDashboard.reconnects") >= 2
        page.wait_for_selector("tr[data-prediction-id]", timeout=5000)
    assert seen.methods == {"GET"}, seen.methods  # read-only: never POST or DELETE
    page.close()


def _check_metrics(base: str) -> None:
    """After the replay ran, every metric the Grafana dashboard queries has samples."""
    with httpx.Client(base_url=base, timeout=30) as client:
        poll_until(
            lambda: [client.get(f"/api/predictions/{PAIR}") for _ in range(2)][-1].json()["cached"],
            timeout=30,
            what="a cached prediction",
        )
        text = client.get("/metrics").text
    wanted = grafana_metric_names(json.loads(GRAFANA.read_text()))
    sampled = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert wanted <= exposed_names(text)
    missing = {n for n in wanted if n not in sampled and n + "_total" not in sampled}
    assert not missing, f"queried by Grafana but without a sample after a replay: {missing}"


@pytest.fixture(scope="module")
def real_server(tracked: Registry) -> Iterator[Running]:
    """A real uvicorn server over the shipped candles (the browser needs a socket)."""
    with run_uvicorn(make_settings(tracked.home, store="dashboard", api_token=TOKEN)) as running:
        yield running


def test_on_a_static_source_the_page_shows_predictions_made_when_asked(real_server, browser):
    server = real_server
    seen = open_page(browser, f"{server.base_url}/dashboard#BTC")
    page = seen.page
    assert page.get_attribute("#conn", "data-state") == "live"
    assert page.text_content("#pairs button[aria-current=true]").startswith("BTC")
    answer = server.client.get("/api/predictions/BTC").json()["prediction"]
    made = answer["metadata"]["predictionId"]
    # Nothing is pushed (no live loop): the page's periodic read finds it.
    page.wait_for_selector(f'tr[data-prediction-id="{made}"]', timeout=15_000)
    assert page.get_attribute(f'tr[data-prediction-id="{made}"]', "data-outcome") == "pending"
    assert int(page.get_attribute("#candles", "data-markers")) >= 1
    assert seen.errors == [], seen.errors
    assert seen.methods == {"GET"}, seen.methods
    page.close()
