"""Benchmark: the `make run` job (train one pair at the default config) on the shipped hourly data.

Measures wall and CPU time per stage and the peak RSS of ``train_pair`` (development folds of
every candidate beside the references, the holdout scored once, the promotion rule, the final
refit, MLflow logging and registration) into a throw-away MLflow store, and prints both reports
so the figures beside the baselines are the ones this run measured.

Usage: ``python bench/training/bench_training.py [--pair BTC] [--param models=lstm ...]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import describe_machine, peak_rss_mib

from mlpkg.config import RunConfig, Settings
from mlpkg.pipelines.train import train_pair
from mlpkg.progress import ProgressEvent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pair", default="BTC")
    parser.add_argument("--param", action="append", default=[], help="run parameter KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = dict(item.split("=", 1) for item in args.param)
    config = RunConfig.from_flat(pair=args.pair, **params)
    stamps: list[tuple[str, float]] = []
    started, cpu = time.perf_counter(), time.process_time()

    def progress(event: ProgressEvent) -> None:
        stamps.append((event.text, time.perf_counter() - started))

    with tempfile.TemporaryDirectory() as tmp:
        result = train_pair(config, Settings(home=Path(tmp), pairs=[args.pair]), progress=progress)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(result.text)
    print("\nstage timeline (s since start):")
    for message, at in stamps:
        print(f"  {at:7.1f}  {message}")
    rows = int(result.development.dataset.labelled.sum())
    models = ",".join(config.models)
    header = "| pair | models | seeds | rows | wall | CPU | peak RSS | selected | promoted |"
    print("\n" + header)
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    print(
        f"| {args.pair} | {models} | {config.n_seeds} | {rows} | {wall:.1f} s | {cpu:.1f} s | "
        f"{peak_rss_mib():.0f} MiB | {result.bundle.candidate} | {result.decision.promote} |"
    )
    print(describe_machine())


if __name__ == "__main__":
    main()
