"""Serving benchmark: mlpkg's API vs ``mlflow models serve`` on the same registered model.

Trains a small BTC model into a temporary tracking store (or uses ``--home`` with an existing
``mlruns/`` champion), then, one server at a time on loopback:

1. ``mlpkg serve`` with the prediction cache off (``prediction_cache_s=0``): every request
   reads candles (in memory after the first), builds features, runs the LSTM and commits the
   prediction to SQLite;
2. ``mlpkg serve`` with the cache on (60 s): repeated requests are answered from memory;
3. ``mlflow models serve -m models:/mlpkg-BTC/<v> --env-manager local``: ``/invocations`` with
   the feature window the model needs as a ``dataframe_split`` payload (features pre-built by
   the client, so mlflow does strictly less work per request than mlpkg without cache).

Each gets ``--requests`` requests from ``--concurrency`` client threads after a warm-up;
reported: p50/p99 latency, requests/s, and the RSS of the server process tree.

    .venv/bin/python bench/serving/bench_serving.py
    .venv/bin/python bench/serving/bench_serving.py --home . --requests 500
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from mlpkg.config import RunConfig, Settings
from mlpkg.data.sources import load_candles
from mlpkg.features.build import build_features
from mlpkg.tracking import registry
from mlpkg.tracking.runs import configure_tracking

log = logging.getLogger("bench_serving")

PAIR = "BTC"
START_TIMEOUT_S = 180.0
BENCH_RUN = {"max_rows": 3000, "epochs": 1, "n_folds": 1}
"""Default architecture (window 60, 2 x 50 LSTM units), trained briefly: speed, not skill."""


@dataclass(frozen=True)
class Measured:
    """One load test."""

    label: str
    clients: int
    latencies_ms: list[float]
    wall_s: float
    rss_mb: float
    errors: int

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[98]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.wall_s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(home: Path | None) -> tuple[Path, str]:
    """Return the project home and the champion version (training one when needed)."""
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="mlpkg-bench-serving-"))
        from mlpkg.pipelines.train import train_pair

        settings = Settings(home=home, pairs=[PAIR])
        started = time.perf_counter()
        result = train_pair(RunConfig.from_flat(pair=PAIR, **BENCH_RUN), settings)
        if not result.decision.promote:
            registry.promote(PAIR, result.version)  # speed test: the model only has to exist
        log.info("trained version %s in %.0f s", result.version, time.perf_counter() - started)
    configure_tracking(Settings(home=home))
    info = registry.alias_version(PAIR, registry.CHAMPION)
    if info is None:
        raise SystemExit(f"No champion for {PAIR} under {home}/mlruns: train one first.")
    return home, info.version


def feature_payload(home: Path, version: str) -> tuple[dict[str, Any], int]:
    """The ``dataframe_split`` body with the feature window of the latest candle."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle, _ = registry.load_model(PAIR, registry.CHAMPION, Path(tmp))
    candles = load_candles(PAIR, "shipped", Settings(home=home)).iloc[-bundle.history_rows :]
    window = build_features(candles, bundle.run_config.features).iloc[-bundle.estimator.window :]
    split = {"columns": list(window.columns), "data": window.to_numpy().tolist()}
    return {"dataframe_split": split}, bundle.estimator.window


@contextmanager
def serving(cmd: list[str], env: dict[str, str], ready_url: str) -> Iterator[psutil.Process]:
    """Start a server process, wait until ``ready_url`` answers 200, stop it afterwards."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(proc, ready_url)
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise SystemExit(f"server exited ({proc.returncode}): {err}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        pause.wait(0.25)
    raise SystemExit(f"{url} not ready after {START_TIMEOUT_S} s")


def tree_rss_mb(process: psutil.Process) -> float:
    procs = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs) / 2**20


def hammer(url: str, payload: dict[str, Any] | None, total: int, threads: int) -> tuple:
    """Send ``total`` requests from ``threads`` clients; return latencies (ms), wall, errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def worker(count: int) -> None:
        mine: list[float] = []
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            for _ in range(count):
                started = time.perf_counter()
                response = client.post(url, json=payload) if payload else client.get(url)
                mine.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    with lock:
                        errors[0] += 1
        with lock:
            latencies.extend(mine)

    counts = [total // threads + (i < total % threads) for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(c,)) for c in counts]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    return latencies, time.perf_counter() - started, errors[0]


def measure(
    label: str, process: psutil.Process, url: str, payload: Any, args: Any
) -> list[Measured]:
    """Warm up, then load the server once per client count."""
    hammer(url, payload, args.warmup, 1)
    results = []
    for clients in args.concurrency:
        latencies, wall, errors = hammer(url, payload, args.requests, clients)
        result = Measured(label, clients, latencies, wall, tree_rss_mb(process), errors)
        log.info(
            "%s, %d clients: p50 %.2f ms, p99 %.2f ms, %.0f req/s",
            label,
            clients,
            result.p50,
            result.p99,
            result.rps,
        )
        results.append(result)
    return results


def bench_mlpkg(home: Path, cache_s: float, args: Any) -> tuple[list[Measured], float]:
    port = free_port()
    env = {
        **os.environ,
        "MLPKG_HOME": str(home),
        "MLPKG_PAIRS": PAIR,
        "MLPKG_MODEL_POLL_S": "0",
        "MLPKG_PREDICTION_CACHE_S": str(cache_s),
        "MLPKG_LOG_LEVEL": "WARNING",
        "MLPKG_STORAGE_PATH": str(home / f"bench-{cache_s:g}" / "predictions.db"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlpkg.cli", "serve", "--port", str(port)]
    with serving(cmd, env, f"{base}/api/health") as process:
        url = f"{base}/api/predictions/{PAIR}"
        p_up = httpx.get(url).json()["prediction"]["prediction"]
        label = f"mlpkg, cache {'on' if cache_s else 'off'}"
        return measure(label, process, url, None, args), p_up


def bench_mlflow(home: Path, version: str, payload: Any, args: Any) -> tuple[list[Measured], float]:
    port = free_port()
    uri = Settings(home=home).resolved_tracking_uri
    bin_dir = Path(sys.executable).parent  # mlflow execs `uvicorn` from PATH
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": path}
    mlflow_bin = str(bin_dir / "mlflow")
    cmd = [
        mlflow_bin,
        "models",
        "serve",
        "-m",
        f"models:/mlpkg-{PAIR}/{version}",
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    base = f"http://127.0.0.1:{port}"
    with serving(cmd, env, f"{base}/ping") as process:
        url = f"{base}/invocations"
        p_up = float(httpx.post(url, json=payload).json()["predictions"][0])
        return measure("mlflow models serve", process, url, payload, args), p_up


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    ram = psutil.virtual_memory().total / 2**30
    return f"nproc={os.cpu_count()}, {cpu}, {ram:.1f} GiB RAM, Python {platform.python_version()}"


def table(results: list[Measured], reference: list[Measured]) -> str:
    """Markdown table; the ratio compares with mlflow at the same number of clients."""
    mlflow_rps = {r.clients: r.rps for r in reference}
    rows = [
        "| server | requests | clients | p50 ms | p99 ms | req/s | vs mlflow req/s | RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r.label} | {len(r.latencies_ms)} | {r.clients} | {r.p50:.2f} | "
            f"{r.p99:.2f} | {r.rps:.0f} | {r.rps / mlflow_rps[r.clients]:.2f} | {r.rss_mb:.0f} |"
        )
    return "\n".join(rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="project root with an mlruns/ BTC champion (default: train one)",
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 4],
        help="client threads; one measurement per value",
    )
    parser.add_argument("--warmup", type=int, default=50)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("mlflow", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    home, version = prepare(args.home.resolve() if args.home else None)
    try:
        run(args, home, version)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace, home: Path, version: str) -> None:
    """Measure the three servers and print the table."""
    payload, window = feature_payload(home, version)
    off, p_ours = bench_mlpkg(home, 0.0, args)
    on, _ = bench_mlpkg(home, 60.0, args)
    ref, p_mlflow = bench_mlflow(home, version, payload, args)
    errors = sum(r.errors for r in (*off, *on, *ref))
    print(f"\n{machine()}")
    print(f"model mlpkg-{PAIR} version {version} (window {window}); non-200 answers: {errors}")
    print(f"same P(up) from both servers: mlpkg {p_ours:.6f}, mlflow {p_mlflow:.6f}\n")
    print(table([*off, *on, *ref], ref))


if __name__ == "__main__":
    main()
