"""Crash safety: SIGKILL under load loses no acknowledged prediction; corrupt files never take
down a working service (the last good model keeps answering) and a corrupt store is refused
at start-up with instructions."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from support import poll_until, prediction_record

from mlpkg.data.sources import load_shipped
from mlpkg.storage import PredictionStore

from .conftest import (
    ServerProcess,
    assert_still_healthy,
    cut_mid_row,
    make_home,
    raw_request,
    register_model_dir,
    server_env,
    truncate_file,
    write_user_files,
)

pytestmark = pytest.mark.slow

WORKERS = 8
HOUR = timedelta(hours=1)
ACKS_BEFORE_KILL = 40


@dataclass
class Crash:
    """What the load saw before and after the server was SIGKILLed."""

    server: ServerProcess
    acked: list[dict] = field(default_factory=list)
    failed_in_flight: int = 0
    non_200: list[int] = field(default_factory=list)
    killed_at: float = math.inf


def _hammer(server: ServerProcess, crash: Crash, lock: threading.Lock, stop: threading.Event):
    with server.client(timeout=30) as client:
        while not stop.is_set():
            sent_at = time.monotonic()
            try:
                response = client.get("/api/predictions/BTC")
            except httpx.HTTPError:  # the server died
                with lock:
                    crash.failed_in_flight += sent_at < crash.killed_at
                return
            with lock:
                if response.status_code == 200:
                    crash.acked.append(response.json())
                else:
                    crash.non_200.append(response.status_code)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory, tiny_model_dir, start_server) -> Crash:
    """A server SIGKILLed while WORKERS clients request predictions (cache off: each is stored)."""
    server = start_server(make_home(tmp_path_factory, tiny_model_dir, "crash"))
    crash = Crash(server)
    lock, stop = threading.Lock(), threading.Event()
    threads = [
        threading.Thread(target=_hammer, args=(server, crash, lock, stop)) for _ in range(WORKERS)
    ]
    for thread in threads:
        thread.start()
    try:
        poll_until(
            lambda: len(crash.acked) >= ACKS_BEFORE_KILL,
            timeout=120,
            what=f"{ACKS_BEFORE_KILL} acknowledged predictions",
        )
        crash.killed_at = time.monotonic()
        server.kill()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return crash


def _store_path(home: Path) -> Path:
    return home / "mlruns" / "predictions.db"


def test_the_server_was_killed_with_requests_in_flight(crashed):
    assert crashed.server.proc.returncode == -9
    assert crashed.failed_in_flight >= 1, "some requests sent before the kill got no answer"
    assert crashed.non_200 == []


def test_every_acknowledged_prediction_survives_sigkill(crashed):
    with PredictionStore(_store_path(crashed.server.home)) as store:
        assert store.integrity_check()
        stored = {record.id: record for record in store.history("BTC", limit=100_000)}
    assert len(crashed.acked) >= ACKS_BEFORE_KILL
    for body in crashed.acked:
        meta = body["prediction"]["metadata"]
        record = stored.get(meta["predictionId"])
        assert record is not None, f"acknowledged prediction {meta['predictionId']} was lost"
        assert record.pair == body["pair"] == "BTC"
        assert record.model_version == meta["version"]
        assert record.candle_time == datetime.fromisoformat(meta["candleTime"])
        assert record.probability == pytest.approx(body["prediction"]["probability"])


def test_a_restarted_server_serves_the_killed_ones_history(crashed, start_server):
    server = start_server(crashed.server.home)
    history = httpx.get(f"{server.base_url}/api/predictions/BTC/history?limit=1000").json()
    served = {p["id"] for p in history["predictions"]}
    acked = {b["prediction"]["metadata"]["predictionId"] for b in crashed.acked}
    assert acked <= served
    assert httpx.get(f"{server.base_url}/api/predictions/BTC", timeout=60).status_code == 200
    health = httpx.get(f"{server.base_url}/api/health").json()
    assert health["storage"]["state"] == "ok"
    server.stop()


# ----------------------------------------------------------------------------- corrupt store


def _start_and_expect_exit(home: Path, timeout: float = 120) -> tuple[int, str]:
    """Start a server that must refuse to run; fail fast if it becomes healthy instead."""
    server = ServerProcess(home=home, env=server_env(home, pairs="BTC")).start(wait=False)

    def exited_or_serving() -> bool:
        if server.proc.poll() is not None:
            return True
        try:
            return httpx.get(f"{server.base_url}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        poll_until(exited_or_serving, timeout=timeout, what="the server to exit", every=0.2)
        assert not server.is_alive(), f"the server started on a corrupt store:\n{server.log_text()}"
    finally:
        server.kill()
    return server.proc.returncode, server.log_text()


def _filled_store(path: Path, rows: int = 2_000) -> None:
    """A real prediction store of ``rows`` rows, checkpointed into one file."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with PredictionStore(path) as store:
        for i in range(rows):
            store.add(
                prediction_record(
                    start + i * HOUR,
                    predicted_at=start + i * HOUR,
                    horizon=5,
                    close_at_prediction=100.0 + i,
                )
            )
        store.checkpoint()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.write_bytes(b"this is not a database\n" * 100), id="text"),
        pytest.param(lambda path: truncate_file(path, keep=0.3), id="truncated"),
        pytest.param(lambda path: _zero_middle(path), id="zeroed pages"),
    ],
)
def test_a_corrupt_prediction_store_is_refused_at_startup_with_what_to_do(
    tmp_path_factory, tiny_model_dir, damage
):
    home = make_home(tmp_path_factory, tiny_model_dir, "corrupt-store")
    store = _store_path(home)
    _filled_store(store)
    damage(store)
    damaged = store.read_bytes()
    code, log = _start_and_expect_exit(home)
    assert code != 0, log[-3000:]
    assert f"mlpkg cannot start: {store}" in log, log[-3000:]
    assert f"mv {store} {store}.corrupt" in log, log[-3000:]
    assert store.read_bytes() == damaged, "the damaged file is left for inspection"


def _zero_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = bytes(8192)
    path.write_bytes(bytes(data))


# ----------------------------------------------------------------------------- broken models / data


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, tiny_model_dir, start_server: Callable[..., ServerProcess]):
    """User-file candles; BTC and ETH have the tiny champion (version 1)."""
    home = make_home(tmp_path_factory, tiny_model_dir, "live", pairs=("BTC", "ETH", "FGOOD"))
    write_user_files(home / "data", load_shipped("BTC").iloc[-600:])
    for pair in ("BTC", "ETH"):
        (home / "data" / f"{pair}.csv").write_bytes((home / "data" / "FGOOD.csv").read_bytes())
    return start_server(home, data_source="file", pairs="BTC,ETH,FGOOD")


def _status(server: ServerProcess, pair: str) -> dict:
    return httpx.get(f"{server.base_url}/api/models/{pair}/status", timeout=60).json()


def _prediction(server: ServerProcess, pair: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/api/predictions/{pair}", timeout=60)


@pytest.mark.parametrize(
    ("pair", "fixture", "reason"),  # the reason's words: the message also holds the file path
    [
        ("BTC", "truncated_model_dir", "the file is corrupt"),
        ("ETH", "wrong_features_model_dir", "features but its network was trained on"),
    ],
    ids=["truncated model files", "wrong feature count"],
)
def test_a_broken_new_champion_leaves_the_previous_one_serving(
    live_server, tiny_model_dir, request, pair, fixture, reason
):
    assert _prediction(live_server, pair).json()["prediction"]["metadata"]["version"] == "1"
    bad = register_model_dir(live_server.home, pair, request.getfixturevalue(fixture))
    loaded = poll_until(
        lambda: (s := _status(live_server, pair)["loaded"])["error"] and s,
        timeout=60,
        what=f"the poller to try version {bad}",
    )
    assert (
        f"Version {bad} of mlpkg-{pair} failed to load; still serving version 1"
        in (loaded["error"])
    )
    assert reason in loaded["error"]
    assert loaded["version"] == "1"
    response = _prediction(live_server, pair)
    assert response.status_code == 200, response.text
    assert response.json()["prediction"]["metadata"]["version"] == "1"
    health = httpx.get(f"{live_server.base_url}/api/health").json()
    assert health["status"] == "degraded"
    assert any(f"Version {bad}" in reason for reason in health["reasons"])
    good = register_model_dir(live_server.home, pair, tiny_model_dir)
    poll_until(
        lambda: _status(live_server, pair)["loaded"]["version"] == good,
        timeout=60,
        what=f"the poller to load the repaired version {good}",
    )
    assert _prediction(live_server, pair).json()["prediction"]["metadata"]["version"] == good


@pytest.mark.parametrize(
    ("damage", "status", "message"),
    [
        (lambda p: p.write_bytes(cut_mid_row(p.read_bytes())), 502, "is nan at row"),
        (lambda p: p.write_bytes(b"\x00\xffgarbage"), 503, "Cannot read candle file"),
        (lambda p: p.write_bytes(b""), 503, "Cannot read candle file"),
        (lambda p: p.unlink(), 503, "No candle file for FGOOD"),
    ],
    ids=["truncated", "garbage", "emptied", "deleted"],
)
def test_a_corrupted_data_file_gets_a_clear_error_and_service_resumes_when_fixed(
    live_server, damage, status, message
):
    path = live_server.home / "data" / "FGOOD.csv"
    good = path.read_bytes()
    assert _prediction(live_server, "FGOOD").status_code == 200
    damage(path)
    try:
        answer = raw_request(live_server, "GET", "/api/predictions/FGOOD")
        assert answer.status == status, answer.text
        assert message in answer.body["message"]
        assert_still_healthy(live_server)
        assert _prediction(live_server, "BTC").status_code == 200, "other pairs keep answering"
    finally:
        path.write_bytes(good)
    assert _prediction(live_server, "FGOOD").status_code == 200
