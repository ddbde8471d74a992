"""Time the logistic family's fit on one BLAS thread (what it does) against the machine's default.

Run: ``.venv/bin/python bench/training/bench_logistic_threads.py [--calls 5]``.
Fits ``LogisticDirectionClassifier`` on the last 1,000 and on all shipped BTC feature rows
(direction in 5 candles), with ``one_blas_thread`` (the fit's own limit) and with the BLAS pools
left as they are (``os.cpu_count()`` threads by default). Prints the machine, then the CPU
(user + sys of this process and its threads) and wall seconds per fit, mean over ``--calls``
fits after one warm-up fit.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from _machine import describe_machine
from _timing import cpu_seconds
from threadpoolctl import threadpool_info

from mlpkg.config import FeatureConfig
from mlpkg.data.sources import load_candles
from mlpkg.features.build import build_features, warmup_rows
from mlpkg.features.labels import make_labels
from mlpkg.models import logistic


def _per_fit(X: pd.DataFrame, y: pd.Series, calls: int) -> tuple[float, float]:
    """Mean CPU and wall seconds of ``calls`` fits, after one warm-up fit."""
    model = logistic.LogisticDirectionClassifier()
    model.fit(X, y)
    cpu, wall = cpu_seconds(), time.perf_counter()
    for _ in range(calls):
        model.fit(X, y)
    return (cpu_seconds() - cpu) / calls, (time.perf_counter() - wall) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args()
    config = FeatureConfig()
    candles = load_candles("BTC", "shipped")
    X = build_features(candles, config).iloc[warmup_rows(config) :]
    y = make_labels(candles["close"], (5,))["direction_5"].reindex(X.index)
    limits: dict[str, Callable[[], Any]] = {
        "default BLAS threads": contextlib.nullcontext,
        "one BLAS thread": logistic.one_blas_thread,
    }
    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    print(describe_machine())
    print(f"BLAS pools and their default threads: {blas}")
    own = logistic.one_blas_thread
    try:
        for rows in (1000, len(X)):
            for name, limit in limits.items():
                logistic.one_blas_thread = limit
                cpu, wall = _per_fit(X.iloc[-rows:], y.iloc[-rows:], args.calls)
                print(f"{rows:>6} rows, {name:<21} cpu {cpu:7.3f} s  wall {wall:7.3f} s per fit")
    finally:
        logistic.one_blas_thread = own


if __name__ == "__main__":
    main()
