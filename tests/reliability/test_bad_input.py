"""Bad input, one case per row of docs/bad-input.md, against the app in process.

Every case asserts the status code, the ``error`` code and that ``message`` says what is wrong,
then that the server still answers ``/api/health`` (nothing crashed it). Three apps, run in
process with their lifespan (tests/reliability/conftest.py ``start_app``): ``open_server``
(shipped candles: pair names, queries, bodies, models), a ``file`` app (user candle files) and a
``core`` app (a real stub core on 127.0.0.1). Paths with literal ``..`` segments (which an HTTP
client normalises away) are sent as raw bytes to a real uvicorn server (``slow``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd
import pytest

from mlpkg.data.sources import load_shipped

from .conftest import (
    CoreStub,
    InProcessServer,
    RawAnswer,
    Server,
    assert_still_healthy,
    bad_candle_frames,
    core_payload,
    raw_request,
    register_model_dir,
    write_user_files,
)

JSON = {"Content-Type": "application/json"}
HUGE = 10_000


@dataclass(frozen=True)
class Case:
    """One bad request and the answer it must get."""

    id: str
    path: str
    status: int
    error: str
    message: str
    method: str = "GET"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False


def check(server: Server, case: Case) -> RawAnswer:
    """Send the case; assert status, error code, message; then that the server is healthy."""
    body: bytes | Iterator[bytes] | None = case.body
    if case.chunked and case.body is not None:
        data = case.body
        body = iter([data[i : i + 65_536] for i in range(0, len(data), 65_536)])
    answer = raw_request(
        server, case.method, case.path, body=body, headers=case.headers, chunked=case.chunked
    )
    assert answer.status == case.status, answer.text[:2000]
    assert isinstance(answer.body, dict), answer.text[:2000]
    assert answer.body.get("error") == case.error, answer.body
    message = str(answer.body.get("message", ""))
    assert message
    assert case.message.lower() in message.lower(), message
    assert len(message) < 2_000, "messages stay readable (no echo of huge input)"
    assert_still_healthy(server)
    return answer


# ----------------------------------------------------------------------------- open server

PAIR_NAMES = [
    Case("unknown pair", "/api/predictions/ZZZ", 404, "unknown_pair", "Unknown pair 'ZZZ'"),
    Case("unknown pair, features", "/api/features/DOGE", 404, "unknown_pair", "MLPKG_PAIRS"),
    Case(
        "unknown pair, history",
        "/api/predictions/DOGE/history",
        404,
        "unknown_pair",
        "Configured pairs: BTC, ETH, LTC",
    ),
    Case("unknown pair, status", "/api/models/DOGE/status", 404, "unknown_pair", "Unknown pair"),
    Case(
        "encoded dot-dot", "/api/predictions/%2e%2e", 422, "invalid_parameters", "Invalid pair '..'"
    ),
    Case("encoded slash", "/api/predictions/..%2Fetc%2Fpasswd", 404, "not_found", "No endpoint"),
    Case("absolute path", "/api/features/%2Fetc%2Fpasswd", 404, "not_found", "No endpoint"),
    Case("null byte", "/api/predictions/BTC%00", 422, "invalid_parameters", "Invalid pair"),
    Case("punctuation", "/api/predictions/B$T*C", 422, "invalid_parameters", "letters or digits"),
    Case(
        "10 kB pair name",
        "/api/predictions/" + "A" * HUGE,
        422,
        "invalid_parameters",
        "Invalid pair",
    ),
    Case(
        "10 kB pair, train",
        "/api/train/" + "B" * HUGE,
        422,
        "invalid_parameters",
        "Invalid pair",
        method="POST",
        body=b"{}",
        headers=JSON,
    ),
]

DOT_SEGMENTS = [
    Case("dot-dot segment", "/api/predictions/../etc", 404, "not_found", "No endpoint"),
    Case("pair then dot-dot", "/api/predictions/BTC/..", 404, "not_found", "No endpoint"),
]
"""Raw ``..`` segments: only a real server receives them unnormalised."""

MODELS = [
    Case(
        "missing model",
        "/api/predictions/ETH",
        503,
        "model_not_found",
        "train one with `mlpkg train --pair ETH`",
    ),
    Case("wrong feature count", "/api/predictions/LTC", 503, "model_load_failed", "feature"),
]

QUERIES = [
    Case("limit=-1", "/api/predictions/BTC/history?limit=-1", 422, "invalid_parameters", "limit"),
    Case("limit=0", "/api/predictions/BTC/history?limit=0", 422, "invalid_parameters", "limit"),
    Case(
        "limit=abc",
        "/api/predictions/BTC/history?limit=abc",
        422,
        "invalid_parameters",
        "valid integer",
    ),
    Case(
        "limit huge",
        "/api/predictions/BTC/history?limit=99999999999999999999",
        422,
        "invalid_parameters",
        "limit",
    ),
    Case(
        "since=garbage",
        "/api/predictions/BTC/history?since=garbage",
        422,
        "invalid_parameters",
        "since",
    ),
    Case(
        "since=number",
        "/api/predictions/BTC/history?since=0.5",
        422,
        "invalid_parameters",
        "ISO-8601 date-time",
    ),
    Case(
        "since=bare date",
        "/api/predictions/BTC/history?since=2024-01-31",
        422,
        "invalid_parameters",
        "ISO-8601 date-time",
    ),
    Case(
        "since=10 kB",
        "/api/predictions/BTC/history?since=" + "9" * HUGE,
        422,
        "invalid_parameters",
        "since",
    ),
    Case("jobs limit=abc", "/api/train/jobs?limit=abc", 422, "invalid_parameters", "limit"),
    Case("unknown job", "/api/train/jobs/nope", 404, "job_not_found", "No training job"),
    Case(
        "cleanup without age",
        "/api/storage/cleanup",
        422,
        "invalid_parameters",
        "maxAgeHours",
        method="POST",
    ),
    Case(
        "cleanup negative age",
        "/api/storage/cleanup?maxAgeHours=-5",
        422,
        "invalid_parameters",
        "maxAgeHours",
        method="POST",
    ),
    Case(
        "cleanup NaN age",
        "/api/storage/cleanup?maxAgeHours=nan",
        422,
        "invalid_parameters",
        "maxAgeHours",
        method="POST",
    ),
]

BODIES = [
    Case(
        "1 MB body",
        "/api/storage/cleanup",
        413,
        "body_too_large",
        "larger than",
        "POST",
        b'{"maxAgeHours": 1, "pad": "' + b"x" * 1_000_000 + b'"}',
        JSON,
    ),
    Case(
        "1 MB chunked body",
        "/api/train/BTC",
        413,
        "body_too_large",
        "larger than",
        "POST",
        b'{"epochs": 1, "pad": "' + b"x" * 1_000_000 + b'"}',
        JSON,
        chunked=True,
    ),
    Case(
        "body not JSON",
        "/api/storage/cleanup",
        422,
        "invalid_parameters",
        "JSON",
        "POST",
        b"{not json",
        JSON,
    ),
    Case(
        "train: unknown parameter",
        "/api/train/BTC",
        422,
        "invalid_parameters",
        "Unknown run parameter 'bogus'",
        "POST",
        b'{"bogus": 1}',
        JSON,
    ),
    Case(
        "train: invalid value",
        "/api/train/BTC",
        422,
        "invalid_parameters",
        "epochs",
        "POST",
        b'{"epochs": -1}',
        JSON,
    ),
    Case(
        "train: wrong type",
        "/api/train/BTC",
        422,
        "invalid_parameters",
        "window",
        "POST",
        b'{"window": "wide"}',
        JSON,
    ),
    Case(
        "train: other pair in body",
        "/api/train/BTC",
        422,
        "invalid_parameters",
        "drop 'pair' from the body",
        "POST",
        b'{"pair": "ETH"}',
        JSON,
    ),
    Case(
        "train: list body",
        "/api/train/BTC",
        422,
        "invalid_parameters",
        "body",
        "POST",
        b"[1, 2]",
        JSON,
    ),
]


@pytest.mark.parametrize("case", PAIR_NAMES + MODELS + QUERIES + BODIES, ids=lambda c: c.id)
def test_bad_request_gets_a_clear_error_and_the_server_stays_up(open_server, case):
    check(open_server, case)


@pytest.mark.slow
@pytest.mark.parametrize("case", DOT_SEGMENTS, ids=lambda c: c.id)
def test_a_raw_dot_segment_path_gets_a_clear_error(token_server, case):
    check(token_server, case)


def test_unknown_pair_answer_lists_the_configured_pairs(open_server):
    answer = check(open_server, PAIR_NAMES[0])
    assert answer.body["pairs"] == ["BTC", "ETH", "LTC"]


def test_the_served_pair_still_answers_after_the_bad_requests(open_server):
    answer = raw_request(open_server, "GET", "/api/predictions/BTC")
    assert answer.status == 200, answer.text
    assert 0.0 <= answer.body["prediction"]["probability"] <= 1.0


# ----------------------------------------------------------------------------- user files


FILE_CASES = [
    Case("file: NaN close", "FNAN", 502, "bad_candles", "column 'close' is nan at row 150"),
    Case("file: unsorted", "FUNSORTED", 502, "bad_candles", "not sorted"),
    Case("file: duplicated", "FDUPLICATED", 502, "bad_candles", "duplicate timestamp"),
    Case("file: high below low", "FHIGHLOW", 502, "bad_candles", "column 'high'"),
    Case("file: truncated CSV", "FTRUNCCSV", 502, "bad_candles", "is nan at row"),
    Case(
        "file: truncated Parquet",
        "FTRUNCPQ",
        503,
        "data_source_unavailable",
        "Cannot read candle file",
    ),
    Case(
        "file: binary garbage",
        "FGARBAGE",
        503,
        "data_source_unavailable",
        "Cannot read candle file",
    ),
    Case("file: empty", "FEMPTY", 503, "data_source_unavailable", "Cannot read candle file"),
    Case("file: wrong columns", "FCOLUMNS", 503, "data_source_unavailable", "wrong columns"),
    Case("file: too few rows", "FSHORT", 503, "data_source_unavailable", "needs"),
    Case("file: missing", "FMISSING", 503, "data_source_unavailable", "No candle file for"),
]
FILE_GOOD = ("FGOOD", "FGZIP", "FPARQUET")
LIVE_CASES = [
    Case(
        "file: 5-minute candles for a 1 h model",
        "FINTERVAL",
        503,
        "interval_mismatch",
        "has candles of 5 min but the model was trained on candles of 1 h",
    ),
    Case("file: gap in the model window", "FGAP", 503, "missing_candles", "spans missing candles"),
]


@pytest.fixture(scope="module")
def file_server(
    tmp_path_factory, light_model_dir, start_app: Callable[..., InProcessServer]
) -> InProcessServer:
    home = tmp_path_factory.mktemp("file-server")
    candles = load_shipped("BTC").iloc[-600:]
    write_user_files(home / "data", candles)
    pairs = [*FILE_GOOD, *(c.path for c in FILE_CASES + LIVE_CASES), "FFORMING"]
    for pair in pairs:
        register_model_dir(home, pair, light_model_dir)
    return start_app(home, data_source="file", pairs=",".join(pairs))


@pytest.mark.parametrize("pair", FILE_GOOD)
def test_a_good_user_file_is_served(file_server, pair):
    answer = raw_request(file_server, "GET", f"/api/predictions/{pair}")
    assert answer.status == 200, answer.text
    assert answer.body["prediction"]["metadata"]["candleTime"].startswith("2019-")


@pytest.mark.parametrize("endpoint", ["predictions", "features"])
@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.id)
def test_a_bad_user_file_gets_a_clear_error(file_server, case, endpoint):
    check(
        file_server,
        Case(case.id, f"/api/{endpoint}/{case.path}", case.status, case.error, case.message),
    )


@pytest.mark.parametrize("case", LIVE_CASES, ids=lambda c: c.id)
def test_a_window_of_another_interval_or_with_a_gap_is_refused(file_server, case):
    check(
        file_server,
        Case(case.id, f"/api/predictions/{case.path}", case.status, case.error, case.message),
    )


def test_a_candle_still_forming_is_not_used(file_server):
    answer = raw_request(file_server, "GET", "/api/predictions/FFORMING")
    assert answer.status == 200, answer.text
    good = raw_request(file_server, "GET", "/api/predictions/FGOOD")
    served = answer.body["prediction"]["metadata"]["candleTime"]
    assert served == good.body["prediction"]["metadata"]["candleTime"]


# ----------------------------------------------------------------------------- upstream core


def _json(payload: object) -> tuple[int, str, str]:
    return 200, json.dumps(payload), "application/json"


def core_answers(candles: pd.DataFrame) -> dict[str, tuple[int, str | bytes, str] | str]:
    """What the stub core answers for each pair."""
    answers: dict[str, tuple[int, str | bytes, str] | str] = {
        "CGOOD": _json(core_payload("CGOOD", candles))
    }
    for name, frame in bad_candle_frames(candles).items():
        payload = core_payload(f"C{name}", frame)
        if name == "NAN":
            payload["history"]["closes"][150] = None
        answers[f"C{name}"] = _json(payload)
    ragged = core_payload("CRAGGED", candles)
    ragged["history"]["closes"].pop()
    answers.update(
        {
            "CRAGGED": _json(ragged),
            "CNOHISTORY": _json({"pair": "CNOHISTORY", "hasEnoughData": False}),
            "CSTRINGS": _json(core_payload("CSTRINGS", candles) | {"history": "n/a"}),
            "CERROR": (500, json.dumps({"error": "Internal server error"}), "application/json"),
            "CGARBAGE": (200, "<html>definitely not json", "text/html"),
            "CBINARY": (200, b"\x00\xff\xfe", "application/json"),
            "CSLOW": "hang",
            "CCOARSE": _json(core_payload("CCOARSE", candles.iloc[::2])),  # 2 h apart
        }
    )
    return answers


# One Case per bad input, as in PAIR_NAMES and the file cases: the tables are alike by design.
CORE_CASES = [
    Case("core: null close", "CNAN", 502, "bad_candles", "column 'close' is nan"),
    Case("core: unsorted", "CUNSORTED", 502, "bad_candles", "not sorted"),
    Case("core: duplicated", "CDUPLICATED", 502, "bad_candles", "duplicate timestamp"),
    Case("core: high below low", "CHIGHLOW", 502, "bad_candles", "column 'high'"),
    Case(
        "core: arrays of unequal length", "CRAGGED", 503, "upstream_unavailable", "unequal length"
    ),
    Case("core: no history", "CNOHISTORY", 503, "upstream_unavailable", "without the arrays"),
    Case(
        "core: history not an object", "CSTRINGS", 503, "upstream_unavailable", "without the arrays"
    ),
    Case("core: HTTP 500", "CERROR", 503, "upstream_unavailable", "HTTP 500"),
    Case("core: garbage body", "CGARBAGE", 503, "upstream_unavailable", "not JSON"),
    Case("core: binary body", "CBINARY", 503, "upstream_unavailable", "not JSON"),
    Case("core: timeout", "CSLOW", 503, "upstream_unavailable", "no answer within"),
    Case("core: pair unknown to core", "CUNKNOWN", 404, "unknown_pair", "has no pair 'CUNKNOWN'"),
]


@pytest.fixture(scope="module")
def core_stub() -> Iterator[CoreStub]:
    with CoreStub(core_answers(load_shipped("BTC").iloc[-600:])) as stub:
        yield stub


@pytest.fixture(scope="module")
def core_server(
    tmp_path_factory, light_model_dir, core_stub, start_app: Callable[..., InProcessServer]
) -> InProcessServer:
    home = tmp_path_factory.mktemp("core-server")
    pairs = ["CGOOD", "CCOARSE", *(c.path for c in CORE_CASES)]
    for pair in pairs:
        register_model_dir(home, pair, light_model_dir)
    return start_app(
        home,
        data_source="core",
        core_url=core_stub.url,
        core_timeout_s="1",
        core_retries="0",
        pairs=",".join(pairs),
    )


def test_good_core_candles_are_served(core_server, core_stub):
    answer = raw_request(core_server, "GET", "/api/predictions/CGOOD")
    assert answer.status == 200, answer.text
    assert "/api/pair/CGOOD" in core_stub.requests


@pytest.mark.parametrize("endpoint", ["predictions", "features"])
@pytest.mark.parametrize("case", CORE_CASES, ids=lambda c: c.id)
def test_bad_core_answers_get_a_clear_error(core_server, case, endpoint):
    check(
        core_server,
        Case(case.id, f"/api/{endpoint}/{case.path}", case.status, case.error, case.message),
    )


def test_core_points_too_far_apart_for_the_models_interval_are_refused(core_server):
    check(
        core_server,
        Case(
            "core: points 2 h apart",
            "/api/predictions/CCOARSE",
            503,
            "interval_mismatch",
            "points are 2 h apart",
        ),
    )


def test_health_reports_the_upstream_error_and_recovers(core_server):
    raw_request(core_server, "GET", "/api/predictions/CERROR")
    degraded = raw_request(core_server, "GET", "/api/health").body
    assert degraded["upstream"]["state"] == "error"
    assert "HTTP 500" in degraded["upstream"]["lastError"]
    assert raw_request(core_server, "GET", "/api/predictions/CGOOD").status == 200
    assert raw_request(core_server, "GET", "/api/health").body["upstream"]["state"] == "ok"
