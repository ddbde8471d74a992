"""Demo: the replay service turns a periodic retrain into a challenger and decides it live.

A BTC champion is trained (``--models``, default logistic) on the shipped hourly candles up to
``--data-end`` in a throw-away home. A real server (uvicorn on 127.0.0.1, a free port) then
replays the shipped candles from that date at ``--speed`` replayed seconds per second with
``MLPKG_RETRAIN_EVERY`` (``--every``) and a long cooldown (one retrain: its challenge is not cut
short by the next one), ``MLPKG_CHALLENGE_MAX`` (``--max``). The script polls
``GET /api/models/BTC/challenger`` and prints the evidence as it grows, until the decision (or
the end of the data), then the registry's record.

Usage: ``python bench/serving/demo_challenger.py [--data-end 2018-12-01] [--every 14d]
[--speed 72000] [--max 5000] [--models logistic]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import shutil
import socket
import tempfile
import threading
import time

import httpx
import uvicorn
from _machine import describe_machine

PAIR = "BTC"


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train_champion(home: Path, data_end: str, models: str) -> str:
    """Train and promote the champion; return its version."""
    from mlpkg.config import RunConfig, Settings
    from mlpkg.evaluation.promotion import manual_decision
    from mlpkg.pipelines.train import train_pair
    from mlpkg.tracking import registry

    settings = Settings(home=home, mlruns_dir=home / "mlruns", pairs=[PAIR])
    config = RunConfig.from_flat(pair=PAIR, models=models, data_end=data_end, n_seeds=1)
    result = train_pair(config, settings)
    if not result.decision.promote:
        registry.promote(PAIR, result.version, manual=manual_decision(result.version))
    return result.version


def follow(client: httpx.Client, timeout_s: float) -> dict[str, object] | None:
    """Print the challenge every few seconds; return it once decided (None at the timeout)."""
    deadline, last_n = time.monotonic() + timeout_s, -1
    print(
        "| service clock | version | settled | mean diff (mnat) | interval (mnat) | e-value "
        "| state |"
    )
    print("|---|---|---:|---:|---|---:|---|")
    while time.monotonic() < deadline:
        answer = client.get(f"/api/models/{PAIR}/challenger")
        if answer.status_code == 200:
            c = answer.json()
            if c["settled"] != last_n or c["state"] != "watching":
                last_n = c["settled"]
                clock = client.get("/api/health").json()["live"].get("now")

                def mnat(x: float | None) -> str:
                    return "-" if x is None else f"{1000 * x:+.2f}"

                print(
                    f"| {clock} | {c['version']} | {c['n']} | {mnat(c['meanDiff'])} | "
                    f"[{mnat(c['lower'])}, {mnat(c['upper'])}] | {c['eValue']:.3g} | "
                    f"{c['state']} |",
                    flush=True,
                )
            if c["state"] != "watching":
                return c
        time.sleep(5)
    return None


def main() -> None:
    """Train, serve the replay, follow the challenge, print the record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-end", default="2018-12-01")
    parser.add_argument("--every", default="14d")
    parser.add_argument("--speed", type=float, default=72_000)
    parser.add_argument("--max", type=int, default=5000)
    parser.add_argument("--models", default="logistic")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mlpkg-demo-challenger-"))
    os.environ.update(
        {
            "MLPKG_HOME": str(home),
            "MLPKG_MLRUNS_DIR": str(home / "mlruns"),
            "MLPKG_PAIRS": PAIR,
            "MLPKG_DATA_SOURCE": "replay",
            "MLPKG_REPLAY_FROM": "shipped",
            "MLPKG_REPLAY_SPEED": str(args.speed),
            "MLPKG_RETRAIN_EVERY": args.every,
            "MLPKG_RETRAIN_COOLDOWN": "365d",
            "MLPKG_CHALLENGE_MAX": str(args.max),
            "MLPKG_PREDICTION_CACHE_S": "0",
            "MLPKG_MODEL_POLL_S": "0",
            "MLPKG_LOG_LEVEL": "WARNING",
        }
    )
    try:
        print(describe_machine())
        started = time.monotonic()
        version = train_champion(home, args.data_end, args.models)
        print(
            f"champion v{version} trained up to {args.data_end} "
            f"({time.monotonic() - started:.0f} s)"
        )
        from mlpkg.serving.app import create_app
        from mlpkg.tracking import registry

        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            while not server.started:
                time.sleep(0.5)
            decided = follow(client, args.timeout)
            jobs = client.get("/api/train/jobs").json()["jobs"]
            for job in jobs:
                print(
                    f"job {job['id'][:8]} {job['trigger']} {job['status']} v{job['modelVersion']} "
                    f"data_end {job['params'].get('data_end')}"
                )
        server.should_exit = True
        thread.join(30)
        if decided is not None:
            info = registry.alias_version(PAIR, registry.CHAMPION)
            print(f"decided: {decided}")
            print(f"champion now v{info.version if info else None}")
        print(f"wall {time.monotonic() - started:.0f} s; {describe_machine()}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
