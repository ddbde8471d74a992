"""Security: bearer token on every mutating endpoint, no secrets in logs, pair names checked
before any file or MLflow object is touched, and the dependency audit wired into lint.

The token and pair-name contracts run on the app in process (``token_app``, ``open_server``);
the server-log test runs on a real uvicorn process (its access log is part of what is checked).
"""

from __future__ import annotations

import importlib.util
import re
import tempfile
from pathlib import Path

import httpx
import pytest
from support import poll_until

from mlpkg.config import Settings
from mlpkg.serving.app import create_app

from .conftest import (
    TRAIN_BODY,
    Server,
    assert_still_healthy,
    raw_request,
    request,
    tracking_client,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MUTATING = [
    ("POST", "/api/train/BTC", TRAIN_BODY, 202),
    ("POST", "/api/storage/cleanup", {"maxAgeHours": 1e5}, 200),
    ("POST", "/api/storage/save", None, 200),
    ("POST", "/api/models/BTC/reload", None, 200),
    ("POST", "/api/train/periodic/toggle", {"enabled": False}, 200),
    ("POST", "/api/train/periodic/run-now", None, 200),
    ("DELETE", "/api/train/jobs/nope", None, 404),  # past the token check: no such job
]
MUTATING_IDS = [path for _, path, _, _ in MUTATING]
JSON = {"Content-Type": "application/json"}
UNKNOWN = "ZZTOP"
"""A pair name of the configured pattern that no server configures."""


def _bad_headers(token: str) -> dict[str, dict[str, str]]:
    return {
        "no header": {},
        "wrong token": {"Authorization": "Bearer wrong-" + token[::-1]},
        "token without scheme": {"Authorization": token},
        "basic scheme": {"Authorization": f"Basic {token}"},
        "bearer without token": {"Authorization": "Bearer"},
        "token prefix": {"Authorization": f"Bearer {token[:-1]}"},
    }


def wait_for_job(server: Server, job_id: str, headers: dict[str, str]) -> dict:
    """Poll the job until it has finished; return its body."""

    def done() -> dict | None:
        body = request(server, "GET", f"/api/train/jobs/{job_id}", headers=headers).json()
        return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

    return poll_until(done, timeout=180, what=f"training job {job_id}", every=0.2)


def _queued_jobs(path: str, response: httpx.Response) -> list[str]:
    """The training jobs an accepted mutating request queued (train, periodic run-now)."""
    if path == "/api/train/BTC":
        return [response.json()["jobId"]]
    if path == "/api/train/periodic/run-now":
        return [r["jobId"] for r in response.json()["results"] if r.get("jobId")]
    return []


def _cancel_and_wait(server: Server, job_id: str, headers: dict[str, str]) -> None:
    """Cancel an accepted job, still queued (the servers here are followers: no job runner)."""
    response = request(server, "DELETE", f"/api/train/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    assert wait_for_job(server, job_id, headers)["status"] == "cancelled"


def test_the_mutating_endpoints_tested_here_are_all_the_apps_mutating_routes():
    paths = create_app(Settings(home=Path(tempfile.gettempdir()), pairs=["BTC"])).openapi()["paths"]
    mutating = {path for path, operations in paths.items() if set(operations) - {"get", "head"}}
    tested = {
        path.replace("BTC", "{pair}").replace("nope", "{job_id}") for _, path, _, _ in MUTATING
    }
    assert mutating == tested


@pytest.mark.parametrize("how", list(_bad_headers("x")))
@pytest.mark.parametrize(("method", "path", "body", "_ok"), MUTATING, ids=MUTATING_IDS)
def test_mutating_endpoint_without_the_right_token_is_401(
    token_app, api_token, how, method, path, body, _ok
):
    headers = _bad_headers(api_token)[how]
    response = request(token_app, method, path, json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["message"]
    assert response.headers["www-authenticate"] == "Bearer"
    assert api_token not in response.text


def test_a_rejected_train_queues_nothing(token_app):
    before = request(token_app, "GET", "/api/train/jobs").json()["count"]
    response = request(token_app, "POST", "/api/train/BTC", json=TRAIN_BODY)
    assert response.status_code == 401
    assert request(token_app, "GET", "/api/train/jobs").json()["count"] == before


@pytest.mark.parametrize(("method", "path", "body", "ok"), MUTATING, ids=MUTATING_IDS)
def test_mutating_endpoint_with_the_right_token_is_accepted(
    token_app, api_token, method, path, body, ok
):
    headers = {"Authorization": f"Bearer {api_token}"}
    response = request(token_app, method, path, json=body, headers=headers)
    assert response.status_code == ok, response.text
    for job_id in _queued_jobs(path, response):
        _cancel_and_wait(token_app, job_id, headers)


def test_read_endpoints_need_no_token(token_app):
    for path in ("/api/health", "/api/predictions/BTC", "/api/storage/stats", "/api/train/jobs"):
        assert request(token_app, "GET", path, timeout=60).status_code == 200, path


@pytest.mark.parametrize(("method", "path", "body", "ok"), MUTATING, ids=MUTATING_IDS)
def test_without_a_configured_token_mutating_endpoints_are_open(
    open_server, method, path, body, ok
):
    response = request(open_server, method, path, json=body, timeout=60)
    assert response.status_code == ok, response.text
    for job_id in _queued_jobs(path, response):
        _cancel_and_wait(open_server, job_id, {})


@pytest.mark.slow
def test_the_token_never_appears_in_the_server_log(token_server, api_token):
    headers = {"Authorization": f"Bearer {api_token}"}
    for _ in range(3):
        httpx.post(f"{token_server.base_url}/api/storage/save", headers=headers)
        httpx.post(
            f"{token_server.base_url}/api/storage/save",
            headers={"Authorization": f"Bearer {api_token}x"},
        )
    httpx.get(f"{token_server.base_url}/api/predictions/BTC", headers=headers, timeout=60)
    for path in ("/api/health", "/openapi.json", "/api/train/jobs", "/api/storage/stats"):
        assert api_token not in httpx.get(token_server.base_url + path, timeout=60).text, path
    log = token_server.log_text()
    assert "rejected a mutating request" in log, "the log holds the rejected requests"
    assert "POST /api/storage/save" in log, "the access log is on"
    assert api_token not in log
    assert api_token[4:20] not in log, "not even a part of it"


def _requests_for_an_unknown_pair(server: Server) -> list[int]:
    statuses = []
    for method, path in [
        ("GET", f"/api/predictions/{UNKNOWN}"),
        ("GET", f"/api/predictions/{UNKNOWN}/history"),
        ("GET", f"/api/features/{UNKNOWN}"),
        ("GET", f"/api/models/{UNKNOWN}/status"),
        ("POST", f"/api/train/{UNKNOWN}"),
        ("POST", f"/api/models/{UNKNOWN}/reload"),
        ("GET", f"/api/predictions/{UNKNOWN.lower()}usdt"),
        ("POST", f"/api/train/{UNKNOWN}_USDT"),
        ("GET", "/api/predictions/%2E%2E%2F%2E%2E%2Fetc"),
        ("POST", "/api/train/%2e%2e"),
    ]:
        body = b"{}" if method == "POST" else None
        answer = raw_request(server, method, path, body=body, headers=JSON)
        statuses.append(answer.status)
    return statuses


def test_an_unknown_pair_touches_no_file_and_no_mlflow_object(open_server):
    home = open_server.home
    before = {p.relative_to(home) for p in home.rglob("*")}
    statuses = _requests_for_an_unknown_pair(open_server)
    assert set(statuses) <= {404, 422}, statuses
    assert_still_healthy(open_server)
    created = {p.relative_to(home) for p in home.rglob("*")} - before
    assert not [p for p in created if re.search(UNKNOWN, str(p), re.IGNORECASE)], created
    assert not [p for p in home.rglob("*") if UNKNOWN.lower() in str(p).lower()]
    client = tracking_client(home)
    names = {e.name for e in client.search_experiments()}
    assert not [n for n in names if UNKNOWN in n], names
    assert not client.search_registered_models(filter_string=f"name='mlpkg-{UNKNOWN}'")
    stats = request(open_server, "GET", "/api/storage/stats").json()["storage"]
    assert UNKNOWN not in stats["rowsPerPair"]
    jobs = request(open_server, "GET", "/api/train/jobs").json()["jobs"]
    assert not [job for job in jobs if job["pair"] == UNKNOWN]


def test_make_lint_runs_the_dependency_audit():
    makefile = (REPO_ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    # The audit's exit status counts: no "-" prefix that would make make ignore it.
    assert re.search(r"^\t\$\(BIN\)/python scripts/audit\.py$", lint, re.MULTILINE), lint
    assert "pip-audit" in (REPO_ROOT / "pyproject.toml").read_text()
    assert "pip-audit" in (REPO_ROOT / "docs" / "bad-input.md").read_text()


def _load_audit():
    spec = importlib.util.spec_from_file_location("audit", REPO_ROOT / "scripts" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_audit_fails_on_a_known_vulnerability_and_says_when_it_skipped():
    audit = _load_audit()
    clean = {"name": "ok", "version": "1.0", "vulns": []}
    vulnerable = {
        "name": "bad",
        "version": "0.1",
        "vulns": [{"id": "PYSEC-1", "fix_versions": ["0.2"]}],
    }
    skipped = {"name": "gone", "skip_reason": "Dependency not found on PyPI"}
    status, lines = audit.judge({"dependencies": [clean, vulnerable, skipped]})
    assert status == 1
    assert "bad 0.1: PYSEC-1 (fixed in 0.2)" in lines
    assert any("skipped 1 of 3" in line for line in lines)
    status, lines = audit.judge({"dependencies": [clean, skipped]})
    assert status == 0 and "no known vulnerability in the 1" in lines[-1]
    status, lines = audit.judge({"dependencies": [skipped]})
    assert status == 0 and "SKIPPED" in lines[-1]
