"""Property-based API fuzzing (schemathesis 4) against the app's own OpenAPI schema.

The schema comes from ``create_app(...).openapi()`` at collection time (``create_app`` does no
I/O) and a test checks it is the one the live server publishes at ``/openapi.json``; the cases
are sent to that live uvicorn server. (schemathesis' lazy ``from_fixture`` loader does not
work with pytest 9: it sets ``request.node._nodeid``, which pytest 9 no longer has.)

Every operation gets generated valid and invalid inputs; each answer must pass schemathesis'
checks: no 5xx, status codes, content types, headers and bodies as documented. The server has
``MLPKG_API_TOKEN`` set and the fuzzer sends no token, so a fuzzed ``POST /api/train`` is
rejected (401) before anything is queued: no heavy training runs. The cases sent are counted:
the module fails if any operation was never fuzzed (a test whose cases hypothesis never
generated would pass silently), and the job check fails when run without the fuzzing.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from mlpkg.config import Settings
from mlpkg.serving.app import create_app

from .conftest import ServerProcess

pytestmark = pytest.mark.slow  # a real server around a trained model

MAX_EXAMPLES = int(os.environ.get("MLPKG_FUZZ_EXAMPLES", "25"))
"""Examples per operation; raise it for a deeper run (``MLPKG_FUZZ_EXAMPLES=500``)."""
SEED = os.environ.get("MLPKG_FUZZ_SEED", "20240601")
"""Fixed so the suite is repeatable; ``MLPKG_FUZZ_SEED=random`` explores new inputs."""
FUZZ_CONFIG: dict = {
    "generation": {"max-examples": MAX_EXAMPLES},
    "request-timeout": 60,
} | ({} if SEED == "random" else {"seed": int(SEED)})


def _job_count(server: ServerProcess) -> int:
    return int(httpx.get(f"{server.base_url}/api/train/jobs?limit=500").json()["count"])


@pytest.fixture(scope="module")
def jobs_before(token_server: ServerProcess) -> int:
    """Training jobs the server had before fuzzing."""
    return _job_count(token_server)


def _app_schema() -> dict:
    settings = Settings(home=Path(tempfile.gettempdir()), pairs=["BTC"], api_token="unused")
    return create_app(settings).openapi()


CONFIG = SchemathesisConfig.from_dict(FUZZ_CONFIG)
schema = schemathesis.openapi.from_dict(_app_schema(), config=CONFIG)


def test_the_fuzzed_schema_is_the_one_the_server_publishes(token_server):
    published = httpx.get(f"{token_server.base_url}/openapi.json").json()
    assert published == _app_schema()


OPERATIONS = {result.ok().label for result in schema.get_all_operations()}


@pytest.fixture(scope="module")
def sent() -> Iterator[Counter[str]]:
    """Cases sent per operation; after the module, fuzzing must really have happened.

    An operation whose cases hypothesis never generated still "passes", so the count is the
    proof: every operation was called, and at least one received ``MAX_EXAMPLES`` cases.
    """
    counts: Counter[str] = Counter()
    yield counts
    assert set(counts) == OPERATIONS, f"operations never fuzzed: {sorted(OPERATIONS - set(counts))}"
    assert max(counts.values()) >= MAX_EXAMPLES, f"too few generated cases: {dict(counts)}"


@schema.parametrize()
def test_every_operation_answers_without_5xx_and_as_documented(
    case, token_server, jobs_before, sent
):
    sent[case.operation.label] += 1
    case.call_and_validate(base_url=token_server.base_url)


def test_fuzzing_queued_no_training_job(token_server, jobs_before, sent):
    """Runs after the fuzzing above (same module): every fuzzed train was refused."""
    assert sent["POST /api/train/{pair}"] > 0, "run with the fuzzing test: no train was fuzzed"
    assert _job_count(token_server) == jobs_before
