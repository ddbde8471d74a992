"""The live loop end to end on a replayed feed with a fast clock (real uvicorn servers).

A tiny model of the pair ``LIVE`` (a user file of real EOS candles) is trained, into the
session's tracking store, on candles up to ``DATA_END``. The server replays the file, which
runs four days past it, at twenty hours of candles per second (so the loop catches up several
candles per step), with periodic retraining every replayed day. A second server replays the
same file with its returns amplified five times (a deliberately shifted feed) and must raise
the drift flag. The fan-out and the loop's helpers are also tested alone.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support import SERVED, Registry, poll_until, train_champion
from websockets.sync.client import connect

from mlpkg.data.sources import find_gaps, load_shipped
from mlpkg.serving.hub import PredictionHub
from mlpkg.serving.live import _new_candles

from .conftest import Running, auth, make_replay_settings, make_settings, run_server, run_uvicorn

PAIR = "LIVE"
"""A user file's pair no other test registers: the retrains here touch no other model."""
DATA_END = "2019-08-20T00:00:00+00:00"
FILE_END = "2019-08-24T00:00:00+00:00"
HORIZON = 5
HOUR = pd.Timedelta(hours=1)
DEADLINE_S = 120.0


@dataclass(frozen=True)
class LiveModel:
    """The tiny EOS champion and the candles the servers replay."""

    version: str
    candles: pd.DataFrame
    normal_dir: Path
    shifted_dir: Path


def _shifted(candles: pd.DataFrame, factor: float = 5.0) -> pd.DataFrame:
    """The same candles with every log return multiplied by ``factor`` (ranges scaled alike)."""
    log_close = np.log(candles["close"])
    close = np.exp(log_close.iloc[0] + factor * (log_close - log_close.iloc[0]))
    shifted = pd.DataFrame(index=candles.index)
    for column in ("open", "high", "low"):
        shifted[column] = close * (candles[column] / candles["close"]) ** factor
    shifted["close"] = close
    shifted["volume"] = candles["volume"]
    return shifted[["open", "high", "low", "close", "volume"]]


@pytest.fixture(scope="module")
def live_model(tracked: Registry, tmp_path_factory: pytest.TempPathFactory) -> LiveModel:
    """Write the replayed files, train LIVE on candles up to DATA_END, make it champion."""
    eos = load_shipped("EOS")
    candles = eos.loc[pd.Timestamp("2019-07-01", tz="UTC") : pd.Timestamp(FILE_END)]
    assert find_gaps(candles).empty, "the replayed period must have no missing candle"
    folders = tmp_path_factory.mktemp("live-data")
    normal, shifted = folders / "normal", folders / "shifted"
    for folder, frame in ((normal, candles), (shifted, _shifted(candles))):
        folder.mkdir()
        frame.to_csv(folder / f"{PAIR}.csv")
    settings = make_settings(tracked.home, pairs=[PAIR], data_dir=normal)
    served = {"source": "file", "data_end": DATA_END, **SERVED}
    result = train_champion(tracked.home, settings, pair=PAIR, **served).trained
    assert "drift_reference" in result.bundle.extra
    return LiveModel(result.version, candles, normal, shifted)


@pytest.fixture(scope="module")
def replay_server(tracked: Registry, live_model: LiveModel) -> Iterator[Running]:
    """Replay of the normal file: 20 h per second, periodic retrain every replayed day."""
    settings = make_replay_settings(
        tracked.home,
        "live",
        live_model.normal_dir,
        72_000,
        pairs=[PAIR],
        retrain_every="24h",
        drift_window=24,
        accuracy_window=10,
        ws_queue=1000,
        api_token="live-token",
        job_niceness=0,  # the retrain must finish within the deadline on a busy machine
    )
    with run_uvicorn(settings) as running:  # the WebSocket subscribers need a real socket
        yield running


class Subscriber:
    """A WebSocket client collecting messages in a thread until closed."""

    def __init__(self, url: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._socket = connect(url, open_timeout=30).__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._socket:
                self.messages.append(json.loads(raw))
        except Exception:  # closed by the test or the server
            pass
        self.close_code = self._socket.close_code

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def send(self, payload: dict[str, Any]) -> None:
        self._socket.send(json.dumps(payload))

    def close(self) -> None:
        self._socket.close()
        self._thread.join(10)


def _ws_url(running: Running, query: str = "") -> str:
    return running.base_url.replace("http://", "ws://") + "/ws/predictions" + query


def _history(running: Running) -> list[dict[str, Any]]:
    body = running.client.get(f"/api/predictions/{PAIR}/history?limit=1000").json()
    return body["predictions"]


def _replay_done(running: Running, last: pd.Timestamp) -> bool:
    seen = running.client.get("/api/health").json()["live"]["pairs"][PAIR]["lastScored"]
    return seen is not None and pd.Timestamp(seen) >= last


def test_the_hub_drops_a_slow_subscribers_oldest_messages_and_never_blocks():
    hub = PredictionHub(maxsize=3)
    slow, btc_only = hub.subscribe(None), hub.subscribe({"BTC"})
    for i in range(5):
        hub.publish("ETH", f"eth-{i}")
    hub.publish("BTC", "btc-0")
    assert [slow.queue.get_nowait() for _ in range(3)] == ["eth-3", "eth-4", "btc-0"]
    assert slow.dropped == 3 and btc_only.dropped == 0
    assert btc_only.queue.get_nowait() == "btc-0" and btc_only.queue.empty()
    hub.unsubscribe(slow)
    hub.unsubscribe(slow)
    assert hub.subscribers == [btc_only] and hub.published == 6


def test_the_hub_pushes_another_model_of_a_pair_to_the_pairs_subscribers():
    hub = PredictionHub(maxsize=3)
    btc, eth, every = hub.subscribe({"BTC"}), hub.subscribe({"ETH"}), hub.subscribe(None)
    hub.publish("BTC-4h-h6", "btc-4h")
    assert btc.queue.get_nowait() == "btc-4h" and every.queue.get_nowait() == "btc-4h"
    assert eth.queue.empty()


def test_the_loop_scores_every_new_candle_but_only_the_latest_at_first():
    index = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC")
    assert _new_candles(index, None) == [index[-1]]
    assert _new_candles(index, index[1]) == list(index[2:])
    assert _new_candles(index, index[-1]) == []


@pytest.mark.slow
def test_replay_scores_each_candle_once_settles_outcomes_and_retrains(replay_server, live_model):
    client = replay_server.client
    started = time.monotonic()
    followed = Subscriber(_ws_url(replay_server, f"?pair={PAIR}"))
    leaving = Subscriber(_ws_url(replay_server))  # every pair, then unsubscribes
    leaving.send({"unsubscribe": [PAIR]})
    refused = Subscriber(_ws_url(replay_server, "?pair=BTC"))  # not configured here
    try:
        # Repeated requests while the clock runs reuse the candle's one prediction.
        answers = [client.get(f"/api/predictions/{PAIR}").json()["prediction"] for _ in range(3)]
        same = [
            a
            for a in answers
            if a["metadata"]["candleTime"] == answers[0]["metadata"]["candleTime"]
        ]
        assert len({a["metadata"]["predictionId"] for a in same}) == 1

        last = pd.Timestamp(live_model.candles.index[-1])
        poll_until(
            lambda: _replay_done(replay_server, last),
            timeout=DEADLINE_S,
            what="the replay to reach the end of the file",
        )
        job = poll_until(
            lambda: _periodic_job(client), timeout=DEADLINE_S, what="a periodic retrain to finish"
        )
        assert job["status"] == "succeeded", job["error"]
        assert pd.Timestamp(job["params"]["data_end"]) < last  # trained on closed candles only
        poll_until(
            lambda: len(followed.of("prediction")) >= 20,
            timeout=30,
            what="predictions on the WebSocket",
        )
    finally:
        for subscriber in (followed, leaving, refused):
            subscriber.close()

    rows = [r for r in _history(replay_server) if r["modelVersion"] == live_model.version]
    _check_one_prediction_per_candle(rows, live_model)
    _check_outcomes_and_live_accuracy(replay_server, rows, live_model)
    before = len(_history(replay_server))
    for _ in range(3):
        assert client.get(f"/api/predictions/{PAIR}").status_code == 200
    assert len(_history(replay_server)) == before  # repeated requests add no rows
    _check_websocket(followed, leaving, refused)
    _check_out_of_sample(replay_server, live_model)
    queue = client.get("/api/train/queue").json()
    assert queue["periodic"]["enabled"] and queue["periodic"]["clock"] == "replay"
    assert any(j["trigger"] == "periodic" for j in queue["recent"])
    assert time.monotonic() - started < DEADLINE_S


def _check_out_of_sample(running: Running, model: LiveModel) -> None:
    body = running.client.get(f"/api/predictions/{PAIR}/out-of-sample").json()
    rows = body["rows"]
    assert body["modelVersion"] == model.version and body["count"] == len(rows) > 100
    assert {r["period"] for r in rows} == {"development", "holdout"}
    for row in rows:  # made by a model fitted only on earlier candles, all before DATA_END
        assert pd.Timestamp(row["trainedThrough"]) < pd.Timestamp(row["openTime"])
        assert pd.Timestamp(row["openTime"]) <= pd.Timestamp(DATA_END)
    times = [r["openTime"] for r in rows]
    assert times == sorted(set(times))
    middle = times[len(times) // 2]
    later = running.client.get(
        f"/api/predictions/{PAIR}/out-of-sample", params={"from": middle}
    ).json()
    assert later["rows"][0]["openTime"] == middle and later["count"] == len(rows) - len(rows) // 2


def _periodic_job(client: Any) -> dict[str, Any] | None:
    jobs = client.get("/api/train/jobs").json()["jobs"]
    done = [
        j for j in jobs if j["trigger"] == "periodic" and j["status"] not in ("queued", "running")
    ]
    return done[0] if done else None


def _check_one_prediction_per_candle(rows: list[dict[str, Any]], model: LiveModel) -> None:
    times = sorted(pd.Timestamp(r["candleTime"]) for r in rows)
    assert len(times) == len(set(times)) > 90  # one row per candle, about 100 replayed
    expected = model.candles.loc[times[0] : times[-1]].index
    assert list(times) == list(expected)  # every candle, none skipped
    assert times[-1] == model.candles.index[-1]
    assert times[0] > pd.Timestamp(DATA_END) - 6 * HOUR  # starts after the model's data


def _check_outcomes_and_live_accuracy(
    running: Running, rows: list[dict[str, Any]], model: LiveModel
) -> None:
    close = model.candles["close"]
    last = model.candles.index[-1]
    correct = 0
    for row in rows:
        candle, target = pd.Timestamp(row["candleTime"]), pd.Timestamp(row["targetTime"])
        assert target == candle + HORIZON * HOUR
        if target > last:  # the target candle never closed: still pending
            assert row["realisedDirection"] is None, row
            continue
        realised = "up" if close[target] > close[candle] else "down"
        assert row["realisedClose"] == pytest.approx(close[target])
        assert row["realisedDirection"] == realised and row["correct"] == (
            row["direction"] == realised
        )
        correct += row["correct"]
    settled = sum(r["realisedDirection"] is not None for r in rows)
    assert len(rows) - settled == HORIZON
    body = running.client.get(f"/api/predictions/{PAIR}/history?limit=1").json()
    live = next(a for a in body["liveAccuracyByVersion"] if a["modelVersion"] == model.version)
    assert (live["nRealised"], live["nCorrect"], live["nPending"]) == (settled, correct, HORIZON)
    assert live["accuracy"] == pytest.approx(correct / settled)
    low, high = live["ci95"]
    assert low < live["accuracy"] < high
    ups = sum(r["realisedDirection"] == "up" for r in rows)
    assert live["upRate"] == pytest.approx(ups / settled)
    status = running.client.get(f"/api/models/{PAIR}/status").json()
    assert status["liveAccuracyLoadedVersion"]["walkForwardAccuracy"] is not None
    assert status["drift"]["hasReference"] and status["drift"]["window"] == 24


def _check_websocket(followed: Subscriber, leaving: Subscriber, refused: Subscriber) -> None:
    hello = followed.of("hello")[0]
    assert hello["pairs"] == [PAIR]
    pushed = followed.of("prediction")
    times = [pd.Timestamp(m["prediction"]["candleTime"]) for m in pushed]
    versions = {m["prediction"]["modelVersion"] for m in pushed}
    if len(versions) == 1:  # a promoted retrain re-scores the latest candle with its version
        assert all(b - a == HOUR for a, b in itertools.pairwise(times))
    for message in pushed:
        assert message["pair"] == PAIR and message["liveAccuracy"]["modelVersion"]
        for settled in message["settled"]:
            assert settled["targetTime"] == message["prediction"]["candleTime"]
            assert settled["realisedDirection"] in ("up", "down")
    assert sum(len(m["settled"]) for m in pushed) > 0
    kinds = [m["type"] for m in leaving.messages]
    assert kinds[0] == "hello" and leaving.messages[0]["pairs"] == [PAIR]
    left = kinds.index("subscribed")
    assert leaving.messages[left]["pairs"] == [] and "prediction" not in kinds[left:]
    assert [m["error"] for m in refused.messages] == ["unknown_pair"]
    assert refused.close_code == 1008


@pytest.mark.slow
def test_a_shifted_feed_raises_the_drift_flag_and_a_drift_retrain_can_be_cancelled(
    tracked, live_model
):
    settings = make_replay_settings(
        tracked.home,
        "drift",
        live_model.shifted_dir,
        3600,
        pairs=[PAIR],
        prediction_cache_s=60,
        drift_window=24,
        accuracy_window=10,
        retrain_on_drift=True,
        retrain_cooldown="1000d",
        api_token="live-token",
    )
    with run_server(settings) as running:
        client = running.client
        status = poll_until(
            lambda: (s := client.get(f"/api/models/{PAIR}/status").json())["drift"] and s,
            timeout=DEADLINE_S,
            what="the first drift check",
        )
        drift = status["drift"]
        assert drift["alert"] and drift["psiMax"] > 0.2
        assert "return_1" in drift["flagged"] and drift["psi"]["return_1"] > 0.2
        reasons = client.get("/api/health").json()["reasons"]
        assert any(r.startswith(f"{PAIR}: feature drift") for r in reasons)
        metadata = client.get(f"/api/predictions/{PAIR}").json()["prediction"]["metadata"]
        assert metadata["ood"] is True and metadata["oodFeatures"]
        job = poll_until(
            lambda: _job_with_trigger(client, "drift"),
            timeout=DEADLINE_S,
            what="a drift retrain to be queued",
        )
        assert client.delete(f"/api/train/jobs/{job['id']}").status_code == 401
        answer = client.delete(f"/api/train/jobs/{job['id']}", headers=auth("live-token"))
        assert answer.status_code in (200, 202), answer.text
        final = poll_until(
            lambda: (
                (j := client.get(f"/api/train/jobs/{job['id']}").json())["status"]
                in ("cancelled", "succeeded")
                and j
            ),
            timeout=DEADLINE_S,
            what="the drift retrain to stop",
        )
        assert final["status"] == "cancelled" and "ancelled" in final["error"]
        again = client.delete(f"/api/train/jobs/{job['id']}", headers=auth("live-token"))
        assert again.status_code == 409 and again.json()["error"] == "job_finished"


def _job_with_trigger(client: Any, trigger: str) -> dict[str, Any] | None:
    jobs = client.get("/api/train/jobs").json()["jobs"]
    return next((j for j in jobs if j["trigger"] == trigger), None)
