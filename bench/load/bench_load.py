"""Benchmark: bounded HTTP load on the real server while a training job runs (loopback only).

Trains a tiny model per pair into a throw-away home, starts
``python -m uvicorn mlpkg.serving.app:create_app --factory`` on a free 127.0.0.1 port, submits
tiny ``POST /api/train/BTC`` jobs and, while one runs, sends a fixed number of GET requests
(default 1,000, 50 in flight, ``httpx.AsyncClient``) spread round-robin over the read
endpoints. ``MLPKG_PREDICTION_CACHE_S=0`` by default, so every prediction request runs the
model and commits a row to SQLite (the worst case; pass ``--cache-s 60`` for the default).

Prints one markdown row per endpoint (requests, non-2xx, p50/p95/p99 latency, requests/s), the
share of the load window during which a training job was running, and the machine.
Usage: ``python bench/load/bench_load.py [--requests 1000] [--concurrency 50]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _machine import describe_machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import httpx
import numpy as np

from mlpkg.config import RunConfig, Settings
from mlpkg.pipelines.train import train_pair
from mlpkg.tracking import registry

LOCAL = "127.0.0.1"
PAIRS = ("BTC", "ETH")
TINY: dict[str, Any] = {
    "max_rows": 600,
    "window": 8,
    "units": 4,
    "lstm_layers": 1,
    "dense_units": 4,
    "epochs": 1,
    "batch_size": 128,
    "patience": 1,
    "n_folds": 1,
}
JOB_PARAMS: dict[str, Any] = {**TINY, "max_rows": 2000, "epochs": 3, "n_folds": 2}
"""What each training job submitted during the load trains (a few seconds of CPU each)."""
ENDPOINTS: dict[str, str] = {
    "prediction": "/api/predictions/BTC",
    "all predictions": "/api/predictions",
    "features": "/api/features/BTC",
    "health": "/api/health",
    "history": "/api/predictions/BTC/history?limit=50",
    "model status": "/api/models/BTC/status",
}
START_TIMEOUT_S = 120.0
MAX_LOAD_S = 300.0


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return int(sock.getsockname()[1])


def prepare_home(home: Path) -> None:
    """Train a tiny model per pair into ``home`` and make each the champion."""
    settings = Settings(home=home, pairs=list(PAIRS))
    for pair in PAIRS:
        result = train_pair(RunConfig.from_flat(pair=pair, **TINY), settings)
        registry.promote(pair, result.version)


def start_server(home: Path, port: int, cache_s: float) -> subprocess.Popen[bytes]:
    """Start the real server on loopback; its output goes to ``home/server.log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPKG_")}
    env |= {
        "MLPKG_HOME": str(home),
        "MLPKG_PAIRS": ",".join(PAIRS),
        "MLPKG_PREDICTION_CACHE_S": str(cache_s),
        "MLPKG_LOG_LEVEL": "WARNING",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    # The same command as tests/reliability/conftest.py ServerProcess.start: a bench script
    # imports nothing from the tests, so it spells the command itself.
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "mlpkg.serving.app:create_app",
        "--factory",
        "--host",
        LOCAL,
        "--port",
        str(port),
        "--no-access-log",
    ]
    with (home / "server.log").open("ab") as log:
        return subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(base_url: str, proc: subprocess.Popen[bytes]) -> None:
    """Poll ``/api/health`` until it answers 200 (bounded)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see server.log")
        try:
            if httpx.get(f"{base_url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not healthy after {START_TIMEOUT_S} s")


@dataclass
class Results:
    """Latencies (s) and failures per endpoint, and training activity seen during the load."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    wall_s: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None


async def one_request(
    client: httpx.AsyncClient, name: str, path: str, gate: asyncio.Semaphore, results: Results
) -> None:
    """Send one GET, recording its latency or why it failed (non-2xx counts as a failure)."""
    async with gate:
        started = time.perf_counter()
        try:
            response = await client.get(path)
        except httpx.HTTPError as exc:
            results.failures[name].append(type(exc).__name__)
            return
        results.latencies[name].append(time.perf_counter() - started)
        if not response.is_success:
            results.failures[name].append(f"HTTP {response.status_code}")


async def run_load(base_url: str, total: int, concurrency: int) -> Results:
    """Send ``total`` requests round-robin over ENDPOINTS with ``concurrency`` in flight."""
    results = Results()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    names = list(ENDPOINTS)
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as client:
        started = time.perf_counter()
        tasks = [
            one_request(
                client, names[i % len(names)], ENDPOINTS[names[i % len(names)]], gate, results
            )
            for i in range(total)
        ]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=MAX_LOAD_S)
        results.wall_s = time.perf_counter() - started
    return results


def submit_jobs(base_url: str, count: int) -> list[str]:
    """Queue ``count`` training jobs for BTC; wait until the first is running."""
    ids = []
    for _ in range(count):
        response = httpx.post(f"{base_url}/api/train/BTC", json=JOB_PARAMS, timeout=30)
        response.raise_for_status()
        ids.append(response.json()["jobId"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if job(base_url, ids[0])["status"] != "queued":
            return ids
        time.sleep(0.1)
    raise SystemExit("the training job did not start within 60 s")


def job(base_url: str, job_id: str) -> dict[str, Any]:
    """The job's JSON body."""
    return dict(httpx.get(f"{base_url}/api/train/jobs/{job_id}", timeout=30).json())


def training_overlap(jobs: list[dict[str, Any]], start: datetime, end: datetime) -> float:
    """Share of [start, end] during which some training job was running."""
    busy = 0.0
    for body in jobs:
        if not body.get("startedAt"):
            continue
        began = max(datetime.fromisoformat(body["startedAt"]), start)
        done = datetime.fromisoformat(body["finishedAt"]) if body.get("finishedAt") else end
        busy += max((min(done, end) - began).total_seconds(), 0.0)
    return min(busy / max((end - start).total_seconds(), 1e-9), 1.0)


def report(results: Results, concurrency: int) -> None:
    """Print the markdown table of the run."""
    print(
        f"\n{sum(len(v) for v in results.latencies.values())} answered requests in "
        f"{results.wall_s:.1f} s, {concurrency} in flight"
    )
    print("\nreq/s = answered requests of the endpoint / load wall time (endpoints interleaved)")
    print("\n| endpoint | requests | non-2xx / errors | p50 ms | p95 ms | p99 ms | req/s |")
    print("|---|---|---|---|---|---|---|")
    total_ok = 0
    for name in [*ENDPOINTS, "all"]:
        if name == "all":
            lat = np.concatenate([np.asarray(v) for v in results.latencies.values()])
            failed = sum(len(v) for v in results.failures.values())
        else:
            lat = np.asarray(results.latencies[name])
            failed = len(results.failures[name])
            total_ok += len(lat)
        p50, p95, p99 = (np.percentile(lat, [50, 95, 99]) * 1000) if len(lat) else (0, 0, 0)
        count = len(lat) + (failed if name != "all" else 0)
        rate = (len(lat) / results.wall_s) if results.wall_s else 0.0
        print(
            f"| {name} | {count if name != 'all' else total_ok} | {failed} | {p50:.0f} | "
            f"{p95:.0f} | {p99:.0f} | {rate:.1f} |"
        )
    problems = {k: sorted(set(v)) for k, v in results.failures.items() if v}
    if problems:
        print(f"\nfailures: {problems}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server (SIGTERM, then SIGKILL after 20 s)."""
    # As tests/support.py stop_process does: a bench script imports nothing from the tests.
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=3, help="training jobs queued before load")
    parser.add_argument("--cache-s", type=float, default=0.0, help="MLPKG_PREDICTION_CACHE_S")
    args = parser.parse_args()
    if not 1 <= args.requests <= 20_000 or not 1 <= args.concurrency <= 200:
        raise SystemExit("keep it bounded: 1-20000 requests, 1-200 concurrent")
    logging.basicConfig(level=logging.WARNING)
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlpkg-load-") as tmp:
        home = Path(tmp)
        prepare_home(home)
        port = free_port()
        base_url = f"http://{LOCAL}:{port}"
        proc = start_server(home, port, args.cache_s)
        try:
            wait_healthy(base_url, proc)
            ids = submit_jobs(base_url, args.jobs)
            load_before = os.getloadavg()[0]
            start = datetime.now().astimezone()
            results = asyncio.run(run_load(base_url, args.requests, args.concurrency))
            end = datetime.now().astimezone()
            jobs = [job(base_url, job_id) for job_id in ids]
        finally:
            stop(proc)
    report(results, args.concurrency)
    states = ", ".join(f"{b['status']}" for b in jobs)
    print(
        f"\ntraining jobs (tiny, {JOB_PARAMS['max_rows']} rows, {JOB_PARAMS['epochs']} epochs):"
        f" {states}; a job was running during {training_overlap(jobs, start, end):.0%} of the"
        " load window"
    )
    print(
        f"prediction cache: {args.cache_s} s; 1-min load average: {load_at_start:.2f} when the"
        f" script started, {load_before:.2f} when the load began (training running)"
    )
    print(f"machine: {describe_machine()}")


if __name__ == "__main__":
    main()
