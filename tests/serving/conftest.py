"""A tiny registered model in an isolated MLflow store, and the app driven in process.

The session fixture trains BTC once with the real pipeline (a few hundred candles, one fold,
LightGBM beside the logistic and naive baselines: TensorFlow-free, a few seconds). Servers are
the real app with its lifespan, driven in process by Starlette's ``TestClient`` (an
``httpx.Client`` whose transport calls the ASGI app: every route, middleware and error handler
runs, without a socket). ``run_uvicorn`` starts a real uvicorn server in a thread on a free port
for the few tests that are about the socket (the live WebSocket replay).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
import uvicorn
from fastapi.testclient import TestClient
from support import (
    SERVED,
    SERVED_FAMILY,
    Registry,
    tiny_params,
    tiny_run_config,
)

from mlpkg.config import Settings
from mlpkg.evaluation.promotion import manual_decision
from mlpkg.serving.app import create_app
from mlpkg.tracking import registry
from mlpkg.tracking.runs import configure_tracking

PAIRS = ["BTC", "ETH", "LTC"]
TOKEN = "test-token-123"
ORIGIN = "http://dashboard.example"
TRAIN_BODY: dict[str, Any] = tiny_params(**SERVED)
"""``POST /api/train/{pair}``'s body of the tests: the same tiny run."""
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
IN_PROCESS_URL = "http://testserver"


@dataclass(frozen=True)
class EnsembleRegistry:
    """A stacked champion (``ENSEMBLE_PAIR``) registered in a test store."""

    pair: str
    version: str
    members: tuple[str, ...]
    weights: dict[str, float]
    member_scores: dict[str, float]


ENSEMBLE_PAIR = "XRP"
"""Not served by the shared server (``PAIRS``), so its tests never see this version."""
ENSEMBLE_MODELS = f"{SERVED_FAMILY},logistic,stacked"


def register_stacked(home: Path, models: str, pair: str = ENSEMBLE_PAIR) -> EnsembleRegistry:
    """Register a tiny ``stacked`` version of ``models`` for ``pair`` in ``home``; champion.

    The real pipeline runs (development folds, selection scores, final fit on every row,
    ``log_bundle`` with its runtime export), but the procedure is the stacked ensemble's whatever
    the selection chose: the tests need an ensemble, and on tiny data a single member may win.
    """
    from dataclasses import replace

    from mlpkg.pipelines.dataset import prepare_dataset
    from mlpkg.pipelines.evaluate import evaluate_development, procedure_for
    from mlpkg.pipelines.train import final_bundle
    from mlpkg.tracking import runs
    from mlpkg.tracking.bundle import log_bundle

    settings = make_settings(home, pairs=[pair])
    config = tiny_run_config(pair=pair, models=models)
    dataset = prepare_dataset(config, settings)
    with runs.pair_run(pair, run_name="ensemble", settings=settings) as run:
        development = evaluate_development(dataset, config)
        procedure = procedure_for("stacked", config, development.predictions, development.fits)
        bundle = final_bundle(config, replace(development, procedure=procedure))
        example = dataset.X.iloc[-(bundle.context_rows + 3) :]
        uri = log_bundle(bundle, list(runs.PIP_REQUIREMENTS), example)
    tags = {"candidate": "stacked", "pair": pair, "run_id": run.info.run_id}
    version = str(mlflow.register_model(uri, registry.model_name(pair), tags=tags).version)
    registry.promote(pair, version, manual=manual_decision(version))
    return EnsembleRegistry(
        pair,
        version,
        procedure.members,
        dict(procedure.weights),
        dict(bundle.extra["member_scores"]),
    )


@pytest.fixture(scope="session")
def ensemble_tracked(tracked: Registry) -> EnsembleRegistry:
    """The stacked (lightgbm + logistic) XRP champion in ``tracked``'s store.

    Same tracking store as ``tracked`` (servers in one process share MLflow's global URI).
    """
    return register_stacked(tracked.home, ENSEMBLE_MODELS)


@pytest.fixture(scope="session")
def ensemble_server(tracked: Registry, ensemble_tracked: EnsembleRegistry) -> Iterator[Running]:
    """A server of the ensemble pair only (prediction cache on)."""
    settings = make_settings(tracked.home, store="ensemble", pairs=[ensemble_tracked.pair])
    with run_server(settings) as running:
        yield running


def make_settings(home: Path, store: str = "main", **overrides: Any) -> Settings:
    """Settings for a test server: shared tracking store in ``home``, own stores in ``store/``."""
    values: dict[str, Any] = {
        "home": home,
        "mlruns_dir": home / "mlruns",
        "storage_path": home / store / "predictions.db",
        "pairs": PAIRS,
        "model_poll_s": 0,
        "live_scoring": False,  # tests/serving/test_live.py turns the live loop on
        "prediction_cache_s": 60,
        "cors_origins": [ORIGIN],
        "data_source": "shipped",
    }
    values.update(overrides)
    return Settings(**values)


def make_replay_settings(
    home: Path, store: str, data_dir: Path, replay_speed: float, **overrides: Any
) -> Settings:
    """Settings for a live test server: the live loop on over a file replayed at ``replay_speed``
    (replayed seconds per second), predictions never cached (``overrides`` win)."""
    values: dict[str, Any] = {
        "live_scoring": True,
        "prediction_cache_s": 0,
        "data_source": "replay",
        "replay_from": "file",
        "data_dir": data_dir,
        "replay_speed": replay_speed,
    }
    return make_settings(home, store, **{**values, **overrides})


class _Server(uvicorn.Server):
    """A uvicorn server that signals when start-up has finished (or failed)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()

    def run_in_thread(self) -> None:
        try:
            self.run()
        finally:
            self.ready.set()


@dataclass
class Running:
    """A started server: its settings, base URL and an HTTP client bound to it."""

    settings: Settings
    base_url: str
    client: httpx.Client
    app: Any

    @property
    def state(self) -> Any:
        """The app's ServingState (to reach the stores and the model cache from a test)."""
        return self.app.state.serving


@contextmanager
def run_server(settings: Settings) -> Iterator[Running]:
    """Run the app in process (its lifespan on enter and exit); the client calls it over ASGI.

    Server errors become 500 answers as on a real server (``raise_server_exceptions=False``).
    """
    app = create_app(settings)
    with TestClient(app, base_url=IN_PROCESS_URL, raise_server_exceptions=False) as client:
        client.timeout = httpx.Timeout(60)
        yield Running(settings, IN_PROCESS_URL, client, app)


@contextmanager
def run_uvicorn(settings: Settings) -> Iterator[Running]:
    """Start the app on a real uvicorn server on a free loopback port; stop it on exit."""
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = _Server(config)
    thread = threading.Thread(target=server.run_in_thread, name="uvicorn-test", daemon=True)
    thread.start()
    assert server.ready.wait(START_TIMEOUT_S), "server did not start in time"
    assert server.started, "server start-up failed (see the log)"
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            yield Running(settings, base_url, client, app)
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        assert not thread.is_alive(), "server did not stop"


@pytest.fixture(scope="session")
def shared_server(tracked: Registry) -> Iterator[Running]:
    """The shared server: token required, 60 s prediction cache, shipped candles."""
    settings = make_settings(tracked.home, api_token=TOKEN)
    with run_server(settings) as running:
        yield running


@pytest.fixture
def server(shared_server: Running) -> Running:
    """The shared server, with MLflow's process-wide URIs pointing at its store again.

    Servers in one process share MLflow's global URIs, and a test that ran before in this
    process may have pointed them at its own store; the server's registry reads go there.
    """
    configure_tracking(shared_server.settings)
    return shared_server


@pytest.fixture
def start_server(tracked: Registry) -> Iterator[Callable[..., Running]]:
    """Start extra servers with setting overrides (stopped after the test)."""
    stack: list[Any] = []

    def start(**overrides: Any) -> Running:
        manager = run_server(make_settings(tracked.home, **overrides))
        stack.append(manager)
        return manager.__enter__()

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def auth(token: str = TOKEN) -> dict[str, str]:
    """The Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check an error answer's status and shape; return its body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.text
    return body
