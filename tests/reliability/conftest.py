"""Reliability fixtures: tiny trained models, servers in process or real, a stub core service.

Two model folders: ``light_model_dir`` (the session model of tests/conftest.py, LightGBM,
TensorFlow-free, downloaded) for the error contracts, and ``tiny_model_dir`` (a tiny LSTM with
its ONNX export, trained once per session) for the crash-safety tests that break its files.
Each server home gets its own SQLite MLflow store in which a folder is registered as
``mlpkg-<PAIR>`` versions (``create_model_version`` with a local ``source``: nothing is copied),
so servers never share a registry, a prediction store or a job store.

``start_app`` runs the app in process (Starlette's ``TestClient``, the app's lifespan on enter
and exit) from the same environment a real server would get: the bad-input and token tests run
there, in ``make test-fast``. ``start_server`` runs real ``python -m uvicorn
mlpkg.serving.app:create_app --factory`` subprocesses on a free loopback port (stdout and stderr
in ``<home>/server.log``) for what needs a process or a socket: SIGKILL, fuzzing over HTTP, raw
``..`` paths, the server log.
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from support import (
    LOOPBACK,
    SERVED,
    Registry,
    free_port,
    poll_until,
    stop_process,
    subprocess_env,
    tiny_params,
    tiny_run_config,
)

from mlpkg.config import Settings

SERVER_START_TIMEOUT_S = 90.0
"""Generous: importing TensorFlow and loading models on a busy 2-core machine takes a while."""
TINY_OVERRIDES: dict[str, Any] = {"models": "lstm", "max_rows": 900, "n_folds": 1}
"""The reliability model: the tiny run of one LSTM (ONNX and Keras files to break), 900 rows."""
TINY = tiny_run_config(pair="BTC", **TINY_OVERRIDES)
TRAIN_BODY: dict[str, Any] = tiny_params(**SERVED)
"""``POST /api/train/{pair}``'s body of the tests: the session model's tiny run (LightGBM)."""


# ----------------------------------------------------------------------------- tiny model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local copy of a tiny trained BTC model (``MLmodel`` + ``artifacts/``), trained once."""
    from mlpkg.pipelines.train import train_pair
    from mlpkg.tracking.registry import model_name

    home = tmp_path_factory.mktemp("tiny-train")
    settings = Settings(home=home, pairs=["BTC"])
    previous = mlflow.get_tracking_uri()
    try:
        result = train_pair(TINY, settings)
        target = home / "tiny-model"
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model_name('BTC')}/{result.version}", dst_path=str(target)
        )
    finally:
        mlflow.set_tracking_uri(previous)
        mlflow.set_registry_uri(previous)
    assert (target / "MLmodel").is_file()
    return target


def tracking_client(home: Path) -> mlflow.MlflowClient:
    """An MLflow client on the SQLite store of a server home (no global state touched)."""
    uri = Settings(home=home).resolved_tracking_uri
    (home / "mlruns").mkdir(parents=True, exist_ok=True)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def register_model_dir(home: Path, pair: str, model_dir: Path, alias: str = "champion") -> str:
    """Register ``model_dir`` as a new version of ``mlpkg-<pair>`` in ``home``; set ``alias``.

    Returns:
        The new version number.
    """
    client = tracking_client(home)
    name = f"mlpkg-{pair}"
    if not client.search_registered_models(filter_string=f"name='{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, source=str(model_dir), run_id=None)
    client.set_registered_model_alias(name, alias, version.version)
    return str(version.version)


def copy_model_dir(model_dir: Path, target: Path) -> Path:
    """Copy a model folder (to corrupt the copy without touching the original)."""
    shutil.copytree(model_dir, target)
    return target


@pytest.fixture(scope="session")
def light_model_dir(tracked: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local copy of the session model (LightGBM, TensorFlow-free) of tests/conftest.py."""
    target = tmp_path_factory.mktemp("light-model") / "model"
    uri = Settings(home=tracked.home).resolved_tracking_uri
    mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/mlpkg-BTC/{tracked.champion.version}",
        dst_path=str(target),
        tracking_uri=uri,
        registry_uri=uri,
    )
    assert (target / "MLmodel").is_file()
    return target


# ----------------------------------------------------------------------------- servers


@dataclass
class ServerProcess:
    """A real uvicorn server subprocess serving ``create_app`` from a private home."""

    home: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self.home / "server.log"

    def start(self, *, wait: bool = True) -> ServerProcess:
        """Start the subprocess; with ``wait``, return once ``/api/health`` answers 200."""
        # bench/load/bench_load.py start_server spells the same command (benches do not import
        # the tests).
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "mlpkg.serving.app:create_app",
            "--factory",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=self.home, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = SERVER_START_TIMEOUT_S) -> None:
        """Poll ``/api/health`` until it answers 200 (fail early if the process died)."""

        def healthy() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}"
                )
            try:
                return httpx.get(f"{self.base_url}/api/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        poll_until(healthy, timeout=timeout, what=f"server on {self.base_url} to be healthy")

    def is_alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server (no shutdown hooks run) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it does not exit in 20 s."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, grace_s=20)

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client on this server (30 s timeout unless given)."""
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.base_url, **kwargs)


def server_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a server: this one without ``MLPKG_*``, plus ``settings``.

    ``settings`` keys are Settings field names (``pairs="BTC,ETH"`` -> ``MLPKG_PAIRS``).
    """
    env = subprocess_env(home)
    env.update(
        {
            "MLPKG_PREDICTION_CACHE_S": "0",
            "MLPKG_MODEL_POLL_S": "0.5",
            "MLPKG_LIVE_SCORING": "false",  # predictions only when asked, as these tests expect
            "MLPKG_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
    )
    env.update({f"MLPKG_{name.upper()}": value for name, value in settings.items()})
    return env


@pytest.fixture(scope="module")
def start_server() -> Iterator[Callable[..., ServerProcess]]:
    """Factory: ``start_server(home, wait=True, **settings)``; every server is stopped after."""
    started: list[ServerProcess] = []

    def start(home: Path, *, wait: bool = True, **settings: str) -> ServerProcess:
        server = ServerProcess(home=home, env=server_env(home, **settings))
        started.append(server)
        return server.start(wait=wait)

    yield start
    for server in started:
        server.stop()


IN_PROCESS_URL = "http://testserver"


class _Records(logging.Handler):
    """Keeps the formatted log records of an in-process server (its ``log_text``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class InProcessServer:
    """The app of a server home run in process: the same calls as a ``ServerProcess``."""

    home: Path
    env: dict[str, str]
    test_client: TestClient | None = None
    records: _Records = field(default_factory=_Records)
    base_url: str = IN_PROCESS_URL

    def start(self) -> InProcessServer:
        """Build ``Settings`` from ``env`` (as the real server would) and enter the lifespan."""
        from mlpkg.serving.app import create_app

        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env)
            settings = Settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.test_client = TestClient(
            create_app(settings), base_url=IN_PROCESS_URL, raise_server_exceptions=False
        )
        self.test_client.__enter__()
        logging.getLogger().addHandler(self.records)
        return self

    def stop(self) -> None:
        """Leave the lifespan."""
        logging.getLogger().removeHandler(self.records)
        if self.test_client is not None:
            self.test_client.__exit__(None, None, None)
            self.test_client = None

    def is_alive(self) -> bool:
        """Whether the app is running (between start and stop)."""
        return self.test_client is not None

    def log_text(self) -> str:
        """Everything the app logged so far."""
        return "\n".join(self.records.lines)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client on the app (closing it leaves the app running)."""
        assert self.test_client is not None, "start() first"
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.base_url, transport=self.test_client._transport, **kwargs)


Server = ServerProcess | InProcessServer
"""Either kind: the helpers below (``request``, ``raw_request``...) take both."""


def request(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to ``server`` (``kwargs`` as ``httpx.request``; 60 s timeout unless given)."""
    kwargs.setdefault("timeout", 60.0)
    timeout = kwargs.pop("timeout")
    with server.client(timeout=timeout) as client:
        return client.request(method, path, **kwargs)


@pytest.fixture(scope="module")
def start_app() -> Iterator[Callable[..., InProcessServer]]:
    """Factory: ``start_app(home, **settings)``, in process; every app is stopped after."""
    started: list[InProcessServer] = []

    def start(home: Path, **settings: str) -> InProcessServer:
        server = InProcessServer(home=home, env=server_env(home, **settings))
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()


def make_home(
    tmp_path_factory: pytest.TempPathFactory,
    model_dir: Path,
    name: str,
    pairs: tuple[str, ...] = ("BTC",),
) -> Path:
    """A fresh server home whose registry holds ``model_dir`` as champion of every pair."""
    home = tmp_path_factory.mktemp(name)
    for pair in pairs:
        register_model_dir(home, pair, model_dir)
    return home


# ----------------------------------------------------------------------------- core stub


CoreAnswer = tuple[int, str | bytes, str]
"""(HTTP status, body, content type) of one stub core answer."""


def core_payload(pair: str, candles: pd.DataFrame) -> dict[str, Any]:
    """A core-shaped ``GET /api/pair/{pair}`` body (docs/compat.md §3) for ``candles``."""
    closes = [float(v) for v in candles["close"]]
    return {
        "pair": pair,
        "history": {
            "closes": closes,
            "highs": [float(v) for v in candles["high"]],
            "lows": [float(v) for v in candles["low"]],
            "prices": closes,
            "volumes": [float(v) for v in candles["volume"]],
            "timestamps": [int(t.value // 1_000_000) for t in candles.index],
        },
        "hasEnoughData": len(closes) >= 52,
        "timestamp": int(time.time() * 1000),
    }


class CoreStub:
    """A real HTTP server on 127.0.0.1 answering like trading-bot-core's ``/api/pair/{PAIR}``.

    ``answers`` maps a pair to a fixed answer, or to ``"hang"`` (the request is held until the
    stub stops, so the client times out).
    """

    def __init__(self, answers: Mapping[str, CoreAnswer | str]) -> None:
        self.answers = dict(answers)
        self.requests: list[str] = []
        self._release = threading.Event()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the stub."""
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests.append(self.path)
                pair = self.path.rstrip("/").rsplit("/", 1)[-1]
                answer = stub.answers.get(pair) if self.path.startswith("/api/pair/") else None
                if answer == "hang":
                    stub._release.wait(60)
                    return
                if answer is None:
                    body = json.dumps(
                        {
                            "error": "Pair not found",
                            "pair": pair,
                            "availablePairs": sorted(stub.answers),
                        }
                    )
                    answer = (404, body, "application/json")
                assert not isinstance(answer, str)
                status, content, content_type = answer
                data = content.encode() if isinstance(content, str) else content
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        return Handler

    def __enter__(self) -> CoreStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


# ----------------------------------------------------------------------------- broken models


def truncate_file(path: Path, keep: float = 0.5) -> None:
    """Cut a file to ``keep`` of its size (a torn write / interrupted download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def cut_mid_row(data: bytes, keep: float = 0.8) -> bytes:
    """Cut CSV bytes just after the first comma past ``keep`` of them (a torn last row)."""
    return data[: data.index(b",", int(len(data) * keep)) + 1]


def model_file(model_dir: Path, name: str) -> Path:
    """The one file called ``name`` inside a downloaded model folder."""
    found = list(model_dir.rglob(name))
    assert len(found) == 1, f"expected one {name} under {model_dir}, found {found}"
    return found[0]


@pytest.fixture(scope="session")
def wrong_features_model_dir(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny model whose metadata asks for one more feature than its network takes."""
    target = copy_model_dir(tiny_model_dir, tmp_path_factory.mktemp("wrong-features") / "model")
    return ask_for_one_more_feature(target)


def ask_for_one_more_feature(model_dir: Path) -> Path:
    """Make a model folder's metadata ask for one more feature than it was trained on."""
    meta_path = model_file(model_dir, "meta.json")
    meta = json.loads(meta_path.read_text())
    lookbacks = meta["run_config"]["features"]["return_lookbacks"]
    meta["run_config"]["features"]["return_lookbacks"] = [*lookbacks, 30]
    meta_path.write_text(json.dumps(meta))
    return model_dir


@pytest.fixture(scope="session")
def truncated_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with its ONNX and Keras files cut in half (the server reads the ONNX)."""
    target = copy_model_dir(tiny_model_dir, tmp_path_factory.mktemp("truncated") / "model")
    truncate_file(model_file(target, "model.onnx"))
    truncate_file(model_file(target, "model.keras"))
    return target


# ----------------------------------------------------------------------------- shared servers


@pytest.fixture(scope="session")
def api_token() -> str:
    """The bearer token of ``token_server`` (random, so it cannot be in any fixture file)."""
    return "tok-" + secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def light_wrong_features_model_dir(
    light_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The session model whose metadata asks for one more feature than it was trained on."""
    target = tmp_path_factory.mktemp("light-wrong-features") / "model"
    return ask_for_one_more_feature(copy_model_dir(light_model_dir, target))


def _session_follower(home: Path, **settings: str) -> Iterator[InProcessServer]:
    """An in-process server that never leads: the test holds its leader lease.

    Its job runner and live loop never start, so a training job it accepts stays queued until
    the test cancels it: the token and pair-name contracts end at the answer, and a job that
    runs to success is tests/serving/test_train.py's (running them here, with the periodic
    run-now's, cost about three minutes of the fast suite on the 2-core machine).
    """
    from mlpkg.serving.lease import LeaderLease

    lease = LeaderLease(home / "mlruns" / "leader.lock")  # beside the default prediction store
    assert lease.try_acquire()
    server = InProcessServer(home=home, env=server_env(home, **settings)).start()
    try:
        yield server
    finally:
        server.stop()
        lease.release()


@pytest.fixture(scope="session")
def open_server(
    tmp_path_factory: pytest.TempPathFactory,
    light_model_dir: Path,
    light_wrong_features_model_dir: Path,
) -> Iterator[InProcessServer]:
    """In process, a follower; shipped candles, no token. BTC: champion; ETH: no model; LTC: wrong
    features."""
    home = make_home(tmp_path_factory, light_model_dir, "open-server")
    register_model_dir(home, "LTC", light_wrong_features_model_dir)
    yield from _session_follower(home, pairs="BTC,ETH,LTC")


@pytest.fixture(scope="session")
def token_app(
    tmp_path_factory: pytest.TempPathFactory, light_model_dir: Path, api_token: str
) -> Iterator[InProcessServer]:
    """In process, a follower; shipped candles, ``MLPKG_API_TOKEN`` set; BTC has the champion."""
    home = make_home(tmp_path_factory, light_model_dir, "token-app")
    yield from _session_follower(home, pairs="BTC", api_token=api_token)


@pytest.fixture(scope="session")
def token_server(
    tmp_path_factory: pytest.TempPathFactory, light_model_dir: Path, api_token: str
) -> Iterator[ServerProcess]:
    """A real uvicorn process: shipped candles, ``MLPKG_API_TOKEN`` set; BTC has the champion."""
    home = make_home(tmp_path_factory, light_model_dir, "token-server")
    server = ServerProcess(home=home, env=server_env(home, pairs="BTC", api_token=api_token))
    try:
        yield server.start()
    finally:
        server.stop()


# ----------------------------------------------------------------------------- raw HTTP


@dataclass(frozen=True)
class RawAnswer:
    """Status, parsed JSON body (None if not JSON), raw text and headers of one answer."""

    status: int
    body: Any
    text: str
    headers: dict[str, str]


def has_dot_segments(path: str) -> bool:
    """Whether ``path`` has a literal ``.`` or ``..`` segment (which httpx would remove)."""
    return any(part in {".", ".."} for part in path.split("?", 1)[0].split("/"))


def raw_request(
    server: Server,
    method: str,
    path: str,
    *,
    body: bytes | Iterator[bytes] | None = None,
    headers: Mapping[str, str] | None = None,
    chunked: bool = False,
) -> RawAnswer:
    """Send a request with ``path`` exactly as given (httpx would remove ``..`` segments).

    A real server gets the bytes on a socket; an in-process app gets them through httpx, so
    a path with ``.``/``..`` segments needs a real server (asserted).
    """
    if isinstance(server, InProcessServer):
        assert not has_dot_segments(path), f"{path}: dot segments need a real server"
        with server.client(timeout=60.0) as client:
            response = client.request(method, path, content=body, headers=dict(headers or {}))
        return _answer(response.status_code, response.text, dict(response.headers))
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=60)
    try:
        connection.request(
            method, path, body=body, headers=dict(headers or {}), encode_chunked=chunked
        )
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    return _answer(response.status, text, answer_headers)


def _answer(status: int, text: str, headers: Mapping[str, str]) -> RawAnswer:
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return RawAnswer(status, parsed, text, {k.lower(): v for k, v in headers.items()})


def assert_still_healthy(server: Server) -> None:
    """The server is alive and ``/api/health`` answers 200."""
    assert server.is_alive(), server.log_text()[-3000:]
    response = request(server, "GET", "/api/health", timeout=30)
    assert response.status_code == 200, response.text


# ----------------------------------------------------------------------------- candle files


def _csv_bytes(candles: pd.DataFrame) -> bytes:
    frame = candles.copy()
    frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.index.name = "open_time"
    return frame.to_csv().encode()


def _parquet_bytes(candles: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    candles.rename_axis("open_time").reset_index().to_parquet(buffer)
    return buffer.getvalue()


def bad_candle_frames(candles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Candle frames that break one rule each: NaN, unsorted, duplicated, inconsistent."""
    nan = candles.copy()
    nan.iloc[150, nan.columns.get_loc("close")] = np.nan
    order = [*range(100), 101, 100, *range(102, len(candles))]
    swapped_prices = candles.copy()
    swapped_prices.iloc[50, swapped_prices.columns.get_loc("high")] = candles["low"].iloc[50] - 1
    return {
        "NAN": nan,
        "UNSORTED": candles.iloc[order],
        "DUPLICATED": pd.concat([candles.iloc[:100], candles.iloc[[99]], candles.iloc[100:]]),
        "HIGHLOW": swapped_prices,
    }


def live_candle_frames(candles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Valid candles the live rules treat specially: another interval, a gap, a forming one."""
    five_minutes = candles.copy()
    five_minutes.index = pd.date_range(
        candles.index[0], periods=len(candles), freq="5min", name=candles.index.name
    )
    forming = candles.iloc[[-1]].copy()
    forming.index = pd.DatetimeIndex([pd.Timestamp.now(tz="UTC").floor("h")], name="open_time")
    return {
        "INTERVAL": five_minutes,
        "GAP": candles.drop(candles.index[[-4, -3]]),  # inside the last model window
        "FORMING": pd.concat([candles, forming]),  # the current hour: still forming
    }


def write_user_files(folder: Path, candles: pd.DataFrame) -> dict[str, str]:
    """Write one candle file per case into ``folder``; return pair -> file name."""
    folder.mkdir(parents=True, exist_ok=True)
    good = _csv_bytes(candles)
    parquet = _parquet_bytes(candles)
    files: dict[str, bytes] = {
        "FGOOD.csv": good,
        "FGZIP.csv.gz": gzip.compress(good),
        "FPARQUET.parquet": parquet,
        "FTRUNCCSV.csv": cut_mid_row(good),
        "FTRUNCPQ.parquet": parquet[: len(parquet) // 2],
        "FGARBAGE.csv": b"\x00\xff\x89PNG\r\n not a csv \x01\x02",
        "FEMPTY.csv": b"",
        "FCOLUMNS.csv": b"time,price\n1,2\n",
        "FSHORT.csv": _csv_bytes(candles.iloc[:20]),
        **{f"F{name}.csv": _csv_bytes(frame) for name, frame in bad_candle_frames(candles).items()},
        **{
            f"F{name}.csv": _csv_bytes(frame) for name, frame in live_candle_frames(candles).items()
        },
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name.split(".")[0]: name for name in files}
