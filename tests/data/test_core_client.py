"""The core client against a real local HTTP server shaped like trading-bot-core.

Core's points are 5-minute ticker snapshots; the client resamples them into candles.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pandas as pd
import pytest
from support import free_port

from mlpkg.config import Settings
from mlpkg.data import core_client
from mlpkg.data.core_client import CORE_INTERVAL, fetch_core_candles, resample_snapshots
from mlpkg.data.sources import load_candles
from mlpkg.errors import (
    CandleIntervalError,
    CandleValidationError,
    DataSourceError,
    UnknownPairError,
    UpstreamUnavailableError,
)

HANG = object()


@dataclass
class CoreStub:
    """What the fake core answers (in order; the last answer repeats) and what it was asked."""

    url: str = ""
    answers: list[tuple[int, object]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, *answers: tuple[int, object]) -> None:
        self.answers = list(answers)

    def next_answer(self) -> tuple[int, object]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class _CoreHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        stub: CoreStub = self.server.stub  # type: ignore[attr-defined]
        stub.paths.append(self.path)
        status, body = stub.next_answer()
        if body is HANG:
            stub.release.wait(timeout=10)
            return
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def core() -> Iterator[CoreStub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CoreHandler)
    server.daemon_threads = True
    stub = CoreStub(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.stub = stub  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield stub
    stub.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(core_client, "RETRY_BACKOFF_S", 0.0)


@pytest.fixture
def slice_(btc_candles) -> pd.DataFrame:
    """120 snapshot-like points, 5 minutes apart from a UTC hour (values of real candles)."""
    points = btc_candles.iloc[:120].copy()
    points.index = pd.date_range("2019-01-01", periods=120, freq="5min", tz="UTC", name="open_time")
    return points


def core_payload(candles: pd.DataFrame, pair: str = "BTC") -> dict:
    closes = candles["close"].tolist()
    return {
        "pair": pair,
        "history": {
            "closes": closes,
            "highs": candles["high"].tolist(),
            "lows": candles["low"].tolist(),
            "prices": closes,
            "volumes": candles["volume"].tolist(),
            "timestamps": candles.index.as_unit("ms").asi8.tolist(),
        },
        "hasEnoughData": len(closes) >= 52,
        "timestamp": 1748900000000,
    }


def settings_for(stub: CoreStub, **overrides) -> Settings:
    return Settings(core_url=stub.url, **{"core_timeout_s": 5.0, "core_retries": 2, **overrides})


def test_snapshots_become_5_minute_candles_by_default(core, slice_):
    core.answer((200, core_payload(slice_)))
    candles = fetch_core_candles("btc_usdt", settings_for(core))
    assert core.paths == ["/api/pair/BTC"]
    assert pd.Timedelta(minutes=5) == CORE_INTERVAL
    # One snapshot per 5 minutes: each candle is that price; the first has no volume before it.
    pd.testing.assert_index_equal(
        candles.index, slice_.index[1:], check_exact=True, check_freq=False
    )
    for column in ("open", "high", "low", "close"):
        assert (candles[column] == slice_["close"].iloc[1:]).all()
    volume = slice_["volume"].diff().clip(lower=0).iloc[1:]
    assert np.allclose(candles["volume"], volume)


def test_snapshots_are_resampled_to_the_models_interval(core, slice_):
    core.answer((200, core_payload(slice_)))
    candles = fetch_core_candles("BTC", settings_for(core), interval=pd.Timedelta(hours=1))
    hours = slice_.groupby(slice_.index.floor("1h"))
    expected = pd.DataFrame(
        {
            "open": hours["close"].first(),
            "high": hours["close"].max(),
            "low": hours["close"].min(),
            "close": hours["close"].last(),
            "volume": hours["volume"].last().diff().clip(lower=0),
        }
    ).iloc[1:]
    assert len(candles) == 9
    pd.testing.assert_frame_equal(candles, expected, check_index_type=False, check_names=False)


def test_an_empty_interval_is_a_missing_candle_and_the_next_has_no_volume():
    index = pd.date_range("2024-01-01", periods=36, freq="5min", tz="UTC", name="open_time")
    points = pd.DataFrame(
        {
            "open": 10.0,
            "high": 12.0,
            "low": 9.0,
            "close": 10.0 + np.arange(36) % 3,
            "volume": 1000.0 + 10 * np.arange(36),
        },
        index=index,
    )
    hole = points[(index < "2024-01-01 01:00") | (index >= "2024-01-01 02:00")]
    candles = resample_snapshots(hole, pd.Timedelta(minutes=30))
    assert [t.strftime("%H:%M") for t in candles.index] == ["00:30", "02:30"]
    assert candles["volume"].tolist() == [60.0, 60.0]


def test_points_further_apart_than_the_interval_are_refused(core, slice_):
    core.answer((200, core_payload(slice_)))
    with pytest.raises(
        CandleIntervalError, match="5 min apart, more than the candle interval 1 min"
    ):
        fetch_core_candles("BTC", settings_for(core), interval=pd.Timedelta(minutes=1))


def test_load_candles_core_source_uses_core(core, slice_):
    core.answer((200, core_payload(slice_)))
    candles = load_candles("BTC", "core", settings_for(core))
    pd.testing.assert_frame_equal(candles, fetch_core_candles("BTC", settings_for(core)))


def test_a_given_client_is_used_and_left_open(core, slice_):
    core.answer((200, core_payload(slice_)))
    with httpx.Client(headers={"X-Test": "1"}) as client:
        candles = fetch_core_candles("BTC", settings_for(core), client=client)
        assert not client.is_closed
    assert len(candles) == len(slice_) - 1


def test_404_lists_cores_available_pairs_without_retrying(core):
    core.answer((404, {"error": "Pair not found", "pair": "XMR", "availablePairs": ["RVN", "KAS"]}))
    with pytest.raises(UnknownPairError) as err:
        fetch_core_candles("xmr", settings_for(core))
    message = str(err.value)
    assert "'XMR'" in message and "RVN, KAS" in message
    assert core.paths == ["/api/pair/XMR"]


def test_500_then_ok_is_retried(core, slice_):
    core.answer((500, {"error": "Internal server error"}), (200, core_payload(slice_)))
    candles = fetch_core_candles("BTC", settings_for(core))
    assert len(candles) == len(slice_) - 1
    assert len(core.paths) == 2


def test_429_then_ok_is_retried(core, slice_):
    core.answer((429, {"error": "slow down"}), (429, {}), (200, core_payload(slice_)))
    assert len(fetch_core_candles("BTC", settings_for(core))) == len(slice_) - 1
    assert len(core.paths) == 3


def test_always_500_gives_up_after_the_retries_naming_the_url(core):
    core.answer((500, {"error": "Internal server error"}))
    with pytest.raises(UpstreamUnavailableError) as err:
        fetch_core_candles("BTC", settings_for(core, core_retries=3))
    message = str(err.value)
    assert f"{core.url}/api/pair/BTC" in message
    assert "HTTP 500 after 4 attempt(s)" in message
    assert "MLPKG_CORE_URL" in message and "MLPKG_DATA_SOURCE" in message
    assert len(core.paths) == 4


def test_other_client_errors_are_not_retried(core):
    core.answer((400, {"error": "bad"}))
    with pytest.raises(UpstreamUnavailableError, match="HTTP 400"):
        fetch_core_candles("BTC", settings_for(core))
    assert len(core.paths) == 1


def test_garbage_body_is_a_clear_error(core):
    core.answer((200, b"<html>It works!</html>"))
    with pytest.raises(UpstreamUnavailableError, match=r"not JSON.*MLPKG_CORE_URL") as err:
        fetch_core_candles("BTC", settings_for(core))
    assert core.url in str(err.value)


@pytest.mark.parametrize("body", [{"pair": "BTC"}, [1, 2], {"history": {"closes": [1.0]}}])
def test_wrong_shape_names_the_missing_arrays(core, body):
    core.answer((200, body))
    with pytest.raises(UpstreamUnavailableError, match=r"without the arrays history\.") as err:
        fetch_core_candles("BTC", settings_for(core))
    assert "history.timestamps" in str(err.value)


def test_unequal_arrays_are_rejected(core, slice_):
    payload = core_payload(slice_)
    payload["history"]["volumes"] = payload["history"]["volumes"][:-1]
    core.answer((200, payload))
    with pytest.raises(UpstreamUnavailableError, match="unequal length") as err:
        fetch_core_candles("BTC", settings_for(core))
    assert "'volumes': 119" in str(err.value)


@pytest.mark.parametrize(
    ("field_", "value", "expected"),
    [
        ("closes", float("nan"), r"column 'close' is nan at row 5"),
        ("closes", None, r"column 'close' is nan at row 5"),
        ("volumes", -3.0, r"column 'volume' is negative \(-3.0\) at row 5"),
        ("lows", -1.0, r"column 'low' has a non-positive price -1.0 at row 5"),
        ("timestamps", None, r"missing timestamp \(NaT\) at row 5"),
    ],
)
def test_bad_values_are_candle_validation_errors_naming_the_row(
    core, slice_, field_, value, expected
):
    payload = core_payload(slice_)
    payload["history"][field_][5] = value
    core.answer((200, payload))
    with pytest.raises(CandleValidationError, match=expected) as err:
        fetch_core_candles("BTC", settings_for(core))
    assert str(err.value).startswith("core /api/pair/BTC:")


def test_timeout_is_retried_then_reported(core):
    core.answer((200, HANG))
    with pytest.raises(UpstreamUnavailableError) as err:
        fetch_core_candles("BTC", settings_for(core, core_timeout_s=0.2, core_retries=1))
    message = str(err.value)
    assert "no answer within 0.2 s" in message and "after 2 attempt(s)" in message
    assert f"{core.url}/api/pair/BTC" in message
    assert len(core.paths) == 2


def test_connection_refused_names_the_url_and_the_fix():
    port = free_port()
    settings = Settings(core_url=f"http://127.0.0.1:{port}/", core_retries=1, core_timeout_s=2)
    with pytest.raises(UpstreamUnavailableError) as err:
        fetch_core_candles("ETH", settings)
    message = str(err.value)
    assert f"http://127.0.0.1:{port}/api/pair/ETH" in message
    assert "cannot connect" in message and "after 2 attempt(s)" in message
    assert "Start trading-bot-core" in message


def test_too_few_rows_says_how_many_are_needed(core, slice_):
    core.answer((200, core_payload(slice_)))
    with pytest.raises(DataSourceError, match="has 120 points for BTC, 119 candles") as err:
        fetch_core_candles("BTC", settings_for(core), min_rows=500)
    assert "500 are needed" in str(err.value)
    assert not isinstance(err.value, UpstreamUnavailableError)
    assert len(fetch_core_candles("BTC", settings_for(core), min_rows=119)) == 119


def test_empty_history_is_rejected(core):
    core.answer(
        (
            200,
            core_payload(
                pd.DataFrame(
                    {
                        c: np.array([], dtype="float64")
                        for c in ("open", "high", "low", "close", "volume")
                    },
                    index=pd.DatetimeIndex([], tz="UTC"),
                )
            ),
        )
    )
    with pytest.raises(CandleValidationError, match="empty"):
        fetch_core_candles("BTC", settings_for(core))
