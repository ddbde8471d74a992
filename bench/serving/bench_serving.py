"""Serving benchmark: mlpkg's API vs ``mlflow models serve`` on the same registered model.

Trains a small BTC model into a temporary tracking store (or uses ``--home`` with an existing
``mlruns/`` champion; registration exports its ONNX graph), then, one server at a time on
loopback:

1. ``mlpkg serve``, **fresh** (``--fresh replay``, the default): ``MLPKG_DATA_SOURCE=replay``
   over the shipped candles with a fast clock (``--replay-speed`` replayed seconds per second,
   from ``--replay-start``), prediction cache off and the live loop off, so the latest closed
   candle moves on between requests: each request builds the features of a new window, runs
   the model and commits a new row (plus the outcome of an older one) to SQLite. The share of
   requests that met a new candle is reported (``fresh``);
2. ``mlpkg serve``, cache off on the static shipped candles: every request computes features
   and the model again, but the store keeps one row per (version, candle), so only the first
   request writes;
3. ``mlpkg serve`` with the cache on (60 s): repeated requests are answered from memory;
   With ``--workers 1 2`` (the default) the cache-off server is measured once per worker
   count (``mlpkg serve --workers N``: N uvicorn processes, one leader);
4. ``--modes ... retrain``: the cache-off server (one worker) while it retrains BTC (a manual
   job: LSTM, one epoch, in its own process): the latency of ``/api/predictions`` during the
   retrain, beside the same server before it;
5. ``mlflow models serve -m models:/mlpkg-BTC/<v> --env-manager local``: ``/invocations`` with
   the feature window the model needs as a ``dataframe_split`` payload (features pre-built by
   the client, so mlflow does strictly less work per request than mlpkg: no candles, no
   features, no storage; it loads the model with Keras).

Each gets ``--requests`` requests from ``--concurrency`` client threads after a warm-up;
reported: p50/p99 latency, requests/s, the RSS of the server process tree and of its largest
process (a worker), and the cold start (process start to the first successful prediction).

    .venv/bin/python bench/serving/bench_serving.py        # every goal row of issue 20
    .venv/bin/python bench/serving/bench_serving.py --home . --requests 500 --concurrency 1 4 8
    nice -n 10 .venv/bin/python bench/serving/bench_serving.py --requests 500 --workers 1 2 \
        --modes fresh static cached retrain
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import logging
import os
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
from _machine import describe_machine

from mlpkg.config import RunConfig, Settings
from mlpkg.data.sources import load_candles
from mlpkg.features.window import window_features
from mlpkg.tracking import registry
from mlpkg.tracking.runs import configure_tracking

log = logging.getLogger("bench_serving")

PAIR = "BTC"
START_TIMEOUT_S = 180.0
BENCH_RUN = {"max_rows": 3000, "lstm_epochs": 1, "n_folds": 1, "n_seeds": 1}
"""Default sizes (LSTM: window 60, 2 x 50 units), trained briefly: speed, not skill."""


@dataclass(frozen=True)
class Measured:
    """One load test."""

    label: str
    clients: int
    latencies_ms: list[float]
    wall_s: float
    rss_mb: float
    errors: int
    cold_start_s: float
    fresh: float | None = None
    workers: int = 1
    worker_rss_mb: float = 0.0

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


def prepare(home: Path | None, models: str) -> tuple[Path, str]:
    """Return the project home and the champion version (training ``models`` when needed)."""
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="mlpkg-bench-serving-"))
        from mlpkg.pipelines.train import train_pair

        settings = Settings(home=home, pairs=[PAIR])
        started = time.perf_counter()
        result = train_pair(RunConfig.from_flat(pair=PAIR, models=models, **BENCH_RUN), settings)
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
    candles = load_candles(PAIR, "shipped", Settings(home=home))
    rows = bundle.context_rows + 1
    window = window_features(candles, bundle.run_config.features, rows)
    split = {"columns": bundle.feature_names, "data": window.tolist()}
    return {"dataframe_split": split}, rows


@contextmanager
def serving(
    cmd: list[str], env: dict[str, str], ready: tuple[str, dict[str, Any] | None]
) -> Iterator[tuple[psutil.Process, float]]:
    """Start a server; wait until ``ready`` (url, POST body or None) answers 200; stop it after.

    Yields the process and its cold start: seconds from ``Popen`` to that first 200.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(proc, *ready)
        yield psutil.Process(proc.pid), time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(proc: subprocess.Popen[bytes], url: str, payload: dict[str, Any] | None) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise SystemExit(f"server exited ({proc.returncode}): {err}")
        try:
            answer = httpx.post(url, json=payload, timeout=5) if payload else httpx.get(url)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        pause.wait(0.02)
    raise SystemExit(f"{url} not ready after {START_TIMEOUT_S} s")


def tree_rss_mb(process: psutil.Process) -> float:
    procs = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs) / 2**20


def largest_rss_mb(process: psutil.Process) -> float:
    """The RSS of the largest API process of the tree (a worker; training processes excluded)."""
    procs = [process, *process.children(recursive=True)]
    api = [p for p in procs if "mlpkg.pipelines.job" not in " ".join(p.cmdline())]
    return max(p.memory_info().rss for p in api) / 2**20


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


def stored_rows(base: str) -> int | None:
    """Rows in the server's prediction store (``None`` for mlflow)."""
    try:
        return int(httpx.get(f"{base}/api/storage/stats").json()["storage"]["rows"])
    except (httpx.HTTPError, KeyError, ValueError):
        return None


def measure(
    label: str, started: tuple[psutil.Process, float], url: str, payload: Any, args: Any
) -> list[Measured]:
    """Warm up, then load the server once per client count."""
    process, cold = started
    base = url.split("/api/")[0] if "/api/" in url else None
    hammer(url, payload, args.warmup, 1)
    results = []
    for clients in args.concurrency:
        before = stored_rows(base) if base else None
        latencies, wall, errors = hammer(url, payload, args.requests, clients)
        after = stored_rows(base) if base else None
        fresh = None if before is None or after is None else (after - before) / args.requests
        result = Measured(
            label,
            clients,
            latencies,
            wall,
            tree_rss_mb(process),
            errors,
            cold,
            fresh,
            workers=getattr(args, "workers_now", 1),
            worker_rss_mb=largest_rss_mb(process),
        )
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


def mlpkg_env(home: Path, mode: str, args: Any) -> dict[str, str]:
    """The server's environment for ``mode`` (fresh: replayed candles; cached: cache on)."""
    env = {
        **os.environ,
        "MLPKG_HOME": str(home),
        "MLPKG_PAIRS": PAIR,
        "MLPKG_MODEL_POLL_S": "0",
        "MLPKG_PREDICTION_CACHE_S": "60" if mode == "cached" else "0",
        "MLPKG_LOG_LEVEL": "WARNING",
        "MLPKG_STORAGE_PATH": str(home / f"bench-{mode}-{args.workers_now}" / "predictions.db"),
        "MLPKG_LIVE_SCORING": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if mode == "fresh":
        env.update(
            {
                "MLPKG_DATA_SOURCE": "replay",
                "MLPKG_REPLAY_FROM": "shipped",
                "MLPKG_REPLAY_START": args.replay_start,
                "MLPKG_REPLAY_SPEED": str(args.replay_speed),
            }
        )
    return env


def bench_mlpkg(home: Path, mode: str, args: Any) -> tuple[list[Measured], float]:
    """Serve with ``mode``: ``fresh`` (replayed candles), ``static`` (cache off) or ``cached``."""
    port = free_port()
    env = mlpkg_env(home, mode, args)
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/api/predictions/{PAIR}"
    cmd = [sys.executable, "-m", "mlpkg.cli", "serve", "--port", str(port)]
    cmd += ["--workers", str(args.workers_now)]
    with serving(cmd, env, (url, None)) as started:
        p_up = httpx.get(url).json()["prediction"]["prediction"]
        label = {
            "fresh": "mlpkg, fresh candle per request",
            "static": "mlpkg, cache off, static candle",
            "cached": "mlpkg, cache on",
        }[mode]
        if args.workers_now > 1:
            label += f", {args.workers_now} workers"
        return measure(label, started, url, None, args), p_up


def bench_retrain(home: Path, args: Any) -> list[Measured]:
    """Cache off, one client: before a retrain, then while a BTC LSTM job trains."""
    port = free_port()
    env = mlpkg_env(home, "retrain", args)
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/api/predictions/{PAIR}"
    cmd = [sys.executable, "-m", "mlpkg.cli", "serve", "--port", str(port)]
    with serving(cmd, env, (url, None)) as started:
        process, cold = started
        hammer(url, None, args.warmup, 1)
        latencies, wall, errors = hammer(url, None, args.requests, 1)
        before = Measured(
            "mlpkg, cache off, before the retrain",
            1,
            latencies,
            wall,
            tree_rss_mb(process),
            errors,
            cold,
            worker_rss_mb=largest_rss_mb(process),
        )
        body = {"models": "lstm", **BENCH_RUN}
        job = httpx.post(f"{base}/api/train/{PAIR}", json=body, timeout=30).json()["jobId"]
        during: list[float] = []
        spent, failed, peak = 0.0, 0, 0.0
        status = "queued"
        while status in ("queued", "running"):
            batch, took, bad = hammer(url, None, 50, 1)
            during += batch
            spent, failed = spent + took, failed + bad
            peak = max(peak, largest_rss_mb(process))
            status = httpx.get(f"{base}/api/train/jobs/{job}", timeout=30).json()["status"]
        log.info("retrain job %s ended %s after %d requests", job, status, len(during))
        retrain = Measured(
            f"mlpkg, cache off, during a retrain (job {status})",
            1,
            during,
            spent,
            tree_rss_mb(process),
            failed,
            cold,
            worker_rss_mb=peak,
        )
    return [before, retrain]


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
    url = f"http://127.0.0.1:{port}/invocations"
    with serving(cmd, env, (url, payload)) as started:
        p_up = float(httpx.post(url, json=payload).json()["predictions"][0])
        return measure("mlflow models serve", started, url, payload, args), p_up


def table(results: list[Measured], reference: list[Measured]) -> str:
    """Markdown table; the ratio compares with mlflow at the same number of clients."""
    mlflow_rps = {r.clients: r.rps for r in reference}
    rows = [
        "| server | requests | clients | p50 ms | p99 ms | req/s | vs mlflow req/s | RSS MiB "
        "| RSS/worker MiB | cold start s | new rows / request | non-200 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        fresh = "" if r.fresh is None else f"{r.fresh:.2f}"
        ratio = r.rps / mlflow_rps[r.clients] if r.clients in mlflow_rps else float("nan")
        rows.append(
            f"| {r.label} | {len(r.latencies_ms)} | {r.clients} | {r.p50:.2f} | "
            f"{r.p99:.2f} | {r.rps:.0f} | {ratio:.1f}x | {r.rss_mb:.0f} "
            f"| {r.worker_rss_mb:.0f} | {r.cold_start_s:.1f} | {fresh} | {r.errors} |"
        )
    return "\n".join(rows)


def _verdict(name: str, ok: bool) -> str:
    return f"{name}: {'met' if ok else 'MISSED'}"


def goals(results: list[Measured], reference: list[Measured]) -> str:
    """The goals of issue 20, met or missed (cache off, static candle; mlflow's req/s)."""
    mlflow_rps = {r.clients: r.rps for r in reference}
    static = {(r.workers, r.clients): r for r in results if "static" in r.label}
    lines = []
    one = static.get((1, 1))
    if one is not None:
        lines.append(
            f"- cache off, one client, one worker: {_verdict('p50 <= 2.5 ms', one.p50 <= 2.5)}"
        )
    single, double = static.get((1, 4)), static.get((2, 4))
    if single is not None and double is not None and 4 in mlflow_rps:
        gain, ratio = double.rps / single.rps, double.rps / mlflow_rps[4]
        lines.append(
            f"- four clients, two workers: {double.rps:.0f} req/s = {gain:.2f}x one worker "
            f"({_verdict('>= 1.6x', gain >= 1.6)}), {ratio:.1f}x mlflow "
            f"({_verdict('>= 10x', ratio >= 10)})"
        )
    for r in results:
        if "retrain" in r.label:
            continue
        checks = [
            _verdict("RSS <= 250 MiB per worker", r.worker_rss_mb <= 250),
            _verdict("cold start <= 2 s", r.cold_start_s <= 2),
        ]
        lines.append(f"- {r.label}, {r.clients} client(s): {', '.join(checks)}")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="project root with an mlruns/ BTC champion (default: train one)",
    )
    parser.add_argument(
        "--models",
        default="lstm",
        help="candidates of the model trained when --home is not given (default: the LSTM, "
        "served by ONNX Runtime; 'lightgbm,logistic,stacked' is make run's default)",
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 4],
        help="client threads; one measurement per value",
    )
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--replay-start",
        default="2017-11-01",
        help="fresh mode: first replayed candle (UTC); leave room for the whole run",
    )
    parser.add_argument(
        "--replay-speed",
        type=float,
        default=1_800_000.0,
        help="fresh mode: replayed seconds per wall second (1.8e6: an hourly candle per 2 ms; "
        "the replay must outlast the cold start and the run: see the 'new rows' column)",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["fresh", "static", "cached"],
        choices=["fresh", "static", "cached", "retrain"],
        help="which mlpkg servers to measure",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="worker processes of the cache-off server; one measurement per value (the goal "
        "compares 2 with 1)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    log.info("at the start: %s", describe_machine())
    for noisy in ("mlflow", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    home, version = prepare(args.home.resolve() if args.home else None, args.models)
    try:
        run(args, home, version)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace, home: Path, version: str) -> None:
    """Measure the servers and print the table."""
    payload, window = feature_payload(home, version)
    ours: list[Measured] = []
    p_ours = float("nan")
    for mode in [m for m in args.modes if m != "retrain"]:
        # Fresh: one server per client count, so each run starts its own replay clock.
        runs = [[c] for c in args.concurrency] if mode == "fresh" else [args.concurrency]
        for workers in args.workers if mode == "static" else [1]:
            for concurrency in runs:
                measured, p_up = bench_mlpkg(
                    home,
                    mode,
                    argparse.Namespace(
                        **{**vars(args), "concurrency": concurrency, "workers_now": workers}
                    ),
                )
                ours += measured
        if mode != "fresh":
            p_ours = p_up  # the latest shipped candle, as mlflow's payload
    ref, p_mlflow = bench_mlflow(home, version, payload, args)
    if "retrain" in args.modes:  # last: it registers a new version
        ours += bench_retrain(home, argparse.Namespace(**{**vars(args), "workers_now": 1}))
    errors = sum(r.errors for r in (*ours, *ref))
    print(f"\n{describe_machine()}")
    print(f"model mlpkg-{PAIR} version {version} (window {window}); non-200 answers: {errors}")
    print(f"same P(up) from both servers: mlpkg {p_ours:.6f}, mlflow {p_mlflow:.6f}\n")
    print(table([*ours, *ref], ref))
    print(f"\n{goals(ours, ref)}")


if __name__ == "__main__":
    main()
