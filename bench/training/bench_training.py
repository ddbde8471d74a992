"""Benchmark: default training + walk-forward evaluation of one pair on the shipped hourly data.

Measures wall time per stage and peak RSS of the whole run (train_pair: walk-forward folds of the
LSTM and the baselines, final fit, MLflow logging, registration) into a throw-away MLflow store,
and prints the walk-forward report so the accuracy/Brier figures beside the baselines are the ones
this run measured. Usage: ``python bench/training/bench_training.py [--pair BTC] [--epochs N]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mlpkg.config import RunConfig, Settings
from mlpkg.pipelines.train import train_pair


def machine() -> str:
    """One line naming the machine the figures come from."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {cpu}, {mem_gib:.0f} GiB RAM, Python {python}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pair", default="BTC")
    parser.add_argument("--epochs", type=int, default=None, help="default: RunConfig's")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = {"pair": args.pair} | ({"epochs": args.epochs} if args.epochs else {})
    config = RunConfig.from_flat(**params)
    stamps: list[tuple[str, float]] = []
    started = time.perf_counter()

    def progress(message: str) -> None:
        stamps.append((message, time.perf_counter() - started))

    with tempfile.TemporaryDirectory() as tmp:
        result = train_pair(config, Settings(home=Path(tmp), pairs=[args.pair]), progress=progress)
    wall = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(result.evaluation.text)
    print("\nstage timeline (s since start):")
    for message, at in stamps:
        print(f"  {at:7.1f}  {message}")
    rows = len(result.evaluation.dataset.X)
    print("\n| pair | labelled rows | epochs (max) | wall time | peak RSS | promoted |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.pair} | {rows} | {config.model.epochs} | {wall:.1f} s | {peak_mib:.0f} MiB | "
        f"{result.decision.promote} |"
    )
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
