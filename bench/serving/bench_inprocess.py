"""Benchmark: one fresh prediction inside the server process, without HTTP.

What the server does for a candle it has not scored yet (``Predictor._compute``): the window's
54 features (NumPy), the served model (ONNX Runtime for an LSTM), the out-of-distribution check,
and one durable SQLite commit holding the new prediction and the outcome it settles. Each call
gets the next complete window of the shipped BTC candles, so every call is a fresh prediction
and writes a new row. Also timed: the parts alone, and a repeated (static) candle with the
cache off, whose row already exists. The HTTP figures (client, uvicorn, FastAPI) are
``bench_serving.py``'s.

Usage: ``python bench/serving/bench_inprocess.py [--calls 2000] [--models lstm] [--home DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import os
import shutil
import time
from collections.abc import Sequence

import numpy as np
from _machine import describe_machine
from _timing import per_call
from bench_serving import PAIR, prepare

from mlpkg.errors import MissingCandlesError

WARMUP = 20  # untimed calls before each timed series


def _percentiles(seconds: Sequence[float]) -> str:
    ms = np.asarray(seconds) * 1000
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"| {p50:.3f} | {p90:.3f} | {p99:.3f} | {len(ms)} |"


def measure(home: Path, calls: int) -> None:
    """Print the table for the champion under ``home``."""
    store = home / "bench-inprocess"
    shutil.rmtree(store, ignore_errors=True)  # an empty store: every fresh call writes a row
    os.environ.update(
        {
            "MLPKG_HOME": str(home),
            "MLPKG_PAIRS": PAIR,
            "MLPKG_MODEL_POLL_S": "0",
            "MLPKG_PREDICTION_CACHE_S": "0",
            "MLPKG_LIVE_SCORING": "false",
            "MLPKG_LOG_LEVEL": "WARNING",
            "MLPKG_STORAGE_PATH": str(store / "predictions.db"),
        }
    )
    from fastapi.testclient import TestClient

    from mlpkg.config import get_settings
    from mlpkg.features.window import window_features
    from mlpkg.serving.app import create_app

    get_settings.cache_clear()  # the environment above, not what training cached
    app = create_app()
    with TestClient(app):  # runs the lifespan: the served model, the store, the feed
        predictor = app.state.serving.predictor
        model = predictor.models.get(PAIR)
        bundle = model.bundle
        history = predictor.feed.all_candles(PAIR)
        rows = bundle.history_rows
        ends = range(rows, len(history))
        fresh: list[float] = []
        skipped = 0
        for end in ends:  # oldest first: each call meets a new candle
            candles = history.iloc[end - rows : end]
            started = time.perf_counter()
            try:
                predictor._compute(PAIR, model, candles)
            except MissingCandlesError:
                skipped += 1
                continue
            fresh.append(time.perf_counter() - started)
            if len(fresh) == calls + WARMUP:
                break
        fresh = fresh[WARMUP:]  # warm-up
        stats = predictor.store.stats()  # before the static calls: what the fresh calls wrote
        latest = history.iloc[-rows:]
        names = list(bundle.members)
        values = window_features(latest, bundle.run_config.features, bundle.context_rows + 1)
        parts = {
            "fresh prediction (features + model + OOD + one durable commit)": fresh,
            "static candle, cache off (`Predictor.predict`, row exists)": per_call(
                lambda: predictor.predict(PAIR), calls, WARMUP
            ),
            "of which: window features": per_call(
                lambda: window_features(
                    latest, bundle.run_config.features, bundle.context_rows + 1
                ),
                calls,
                WARMUP,
            ),
            f"of which: the model ({', '.join(names)})": per_call(
                lambda: bundle.member_probas(values, names), calls, WARMUP
            ),
        }
    print(describe_machine())
    print(
        f"model mlpkg-{PAIR} {bundle.candidate} (window {bundle.context_rows + 1}); "
        f"{skipped} windows skipped (missing candles); the fresh calls stored "
        f"{stats['rows']} rows and settled {stats['realised']}\n"
    )
    print("| what | p50 ms | p90 ms | p99 ms | calls |\n|---|---:|---:|---:|---:|")
    for name, seconds in parts.items():
        print(f"| {name} {_percentiles(seconds)}")
    p50 = float(np.percentile(fresh, 50)) * 1000
    print(
        f"\ngoal: a fresh prediction under 3 ms (in process): "
        f"{'met' if p50 < 3 else 'MISSED'} ({p50:.2f} ms p50)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--models", default="lstm", help="candidates of the model to train")
    parser.add_argument("--home", type=Path, default=None, help="project root with a champion")
    args = parser.parse_args()
    home, _ = prepare(args.home.resolve() if args.home else None, args.models)
    try:
        measure(home, args.calls)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
