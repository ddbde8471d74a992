"""``mlpkg serve --workers 2`` as a real process tree: one leader, kill -9, no candle lost.

The tiny LIVE champion of ``test_live`` is replayed at four candles per second by two uvicorn
workers (its 96 candles in 24 s: the replay clock starts when ``mlpkg serve`` does, and the
workers' start-up, about 10 s, must stay well inside it for the kill to come mid-replay). Both
answer HTTP and WebSocket; ``/metrics`` sums both; the leader (the pid in ``leader.lock``) is
killed with SIGKILL mid-replay; the other worker takes the lease and goes on. The live event
log and the prediction store must then hold every replayed candle exactly once, in order, with
candles scored both before and after the kill, and a subscriber of the
surviving worker must have received predictions made by both leaders.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
from support import Registry, free_port, poll_until, stop_process

from mlpkg.serving.lease import leader_pid
from mlpkg.storage import PredictionStore
from mlpkg.storage.events import LiveEventStore

from .test_live import FILE_END, PAIR, LiveModel, Subscriber, live_model  # noqa: F401

pytestmark = pytest.mark.slow

SPEED = 14_400.0
"""Four replayed hours per second."""
START_S = 240.0


@contextmanager
def _serve_workers(tracked: Registry, live: LiveModel, store: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "MLPKG_HOME": str(tracked.home),
        "MLPKG_MLRUNS_DIR": str(tracked.home / "mlruns"),
        "MLPKG_STORAGE_PATH": str(store / "predictions.db"),
        "MLPKG_PAIRS": PAIR,
        "MLPKG_DATA_SOURCE": "replay",
        "MLPKG_REPLAY_FROM": "file",
        "MLPKG_DATA_DIR": str(live.normal_dir),
        "MLPKG_REPLAY_SPEED": str(SPEED),
        "MLPKG_MODEL_POLL_S": "0",
        "MLPKG_PREDICTION_CACHE_S": "0",
        "MLPKG_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    store.mkdir(parents=True, exist_ok=True)
    log = (store / "serve.log").open("wb")
    command = [sys.executable, "-m", "mlpkg.cli", "serve", "--workers", "2", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, signal.SIGINT, grace_s=60)
        log.close()


def _health(base: str) -> dict | None:
    try:
        response = httpx.get(f"{base}/api/health", timeout=5)  # a new connection each time
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _subscribers_of_both(base: str, pids: set[int]) -> dict[int, Subscriber]:
    """Open WebSocket clients until one is connected to each worker (by its hello's pid)."""
    url = base.replace("http://", "ws://") + f"/ws/predictions?pair={PAIR}"
    found: dict[int, Subscriber] = {}
    for _ in range(40):
        client = Subscriber(url)
        hello = poll_until(lambda c=client: c.of("hello"), timeout=30, what="hello")[0]
        if hello["pid"] in found:
            client.close()
        else:
            found[hello["pid"]] = client
        if set(found) == pids:
            return found
    raise AssertionError(f"could not reach both workers {pids}: {sorted(found)}")


def _metric_sum(text: str, name: str, route: str) -> float:
    pattern = re.compile(rf'^{name}\{{[^}}]*route="{re.escape(route)}"[^}}]*\}} (\S+)$', re.M)
    return sum(float(v) for v in pattern.findall(text))


def test_two_workers_one_leader_survive_kill_9_without_a_lost_or_repeated_candle(
    tracked,
    live_model,  # noqa: F811  (the fixture imported above)
    tmp_path,
):
    store = tmp_path / "store"
    with _serve_workers(tracked, live_model, store) as base:
        poll_until(lambda: _health(base), timeout=START_S, what="the workers to answer")
        # Every worker answers HTTP: ask with a new connection each time until both did.
        pids: dict[int, bool] = {}
        asked = 0
        for _ in range(60):
            asked += 1
            body = _health(base)
            if body is not None:
                pids[body["training"]["pid"]] = body["training"]["leader"]
            if len(pids) == 2:
                break
        assert len(pids) == 2, pids
        assert sorted(pids.values()) == [False, True], pids  # exactly one leader
        leader = next(pid for pid, lead in pids.items() if lead)
        assert leader_pid(store / "leader.lock") == leader
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        counted = _metric_sum(metrics, "mlpkg_http_request_duration_seconds_count", "/api/health")
        assert counted >= asked, (counted, asked)  # every worker's requests, summed

        subscribers = _subscribers_of_both(base, set(pids))
        events = LiveEventStore(store / "live.db").open()
        poll_until(lambda: len(events.candles(PAIR)) >= 5, timeout=120, what="5 live candles")
        seen = events.candles(PAIR)
        before_kill = len(seen)
        assert pd.Timestamp(seen[-1][1]) < pd.Timestamp(FILE_END), "replayed before the kill"
        os.kill(leader, signal.SIGKILL)
        follower = next(pid for pid in pids if pid != leader)
        poll_until(
            lambda: leader_pid(store / "leader.lock") == follower,
            timeout=30,
            what="the other worker to take the lease",
        )
        last = pd.Timestamp(FILE_END)
        poll_until(
            lambda: (c := events.candles(PAIR)) and pd.Timestamp(c[-1][1]) >= last,
            timeout=180,
            what="the replay to reach the end of the file",
        )
        logged = events.candles(PAIR)
        events.close()
        survivor = subscribers[follower]

        def pushed_to_the_end() -> list[pd.Timestamp] | None:
            messages = survivor.of("prediction")
            got = [pd.Timestamp(m["prediction"]["candleTime"]) for m in messages]
            return got if got and got[-1] >= last else None

        # the follower publishes the last rows it logged (FOLLOW_POLL_S is 0.2 s)
        pushed = poll_until(pushed_to_the_end, timeout=30, what="the last candle's push")
        for client in subscribers.values():
            client.close()

    times = [pd.Timestamp(t) for _, t in logged]
    assert len({v for v, _ in logged}) == 1
    assert before_kill >= 5 and len(times) > before_kill  # scored by both leaders
    steps = pd.Series(times).diff().dropna()
    assert (steps == pd.Timedelta(hours=1)).all(), steps.value_counts()  # none twice, none skipped
    with PredictionStore(store / "predictions.db") as predictions:
        stored = predictions.history(PAIR, limit=1000)
    stored_times = sorted(pd.Timestamp(r.candle_time) for r in stored)
    assert stored_times == times  # one stored prediction per logged candle, no other
    # The surviving worker's subscriber got what both leaders made, in order.
    assert pushed == times[-len(pushed) :] and len(pushed) > before_kill
