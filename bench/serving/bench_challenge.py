"""Benchmark: the champion's answer with and without a live challenger scored in shadow.

Two versions of BTC are registered into a throw-away MLflow store: a champion (logistic on the
shipped candles up to ``--data-end``) and a challenger (``train_pair(..., as_challenger=True)``,
the same recipe on candles up to a week earlier); logistic is fast to train, and the serving
path is the same for every family. The server's own objects are opened in-process
(``TestClient`` runs the lifespan, the live loop off) and each following candle is served as
the live loop serves it: the outcomes the candle settles (``PredictionStore.fill_outcomes``),
then the champion's fresh prediction (``Predictor.score_candles``: features, model, one
durable SQLite commit), each timed; then, in alternate blocks of ``BLOCK``
candles (so that the load of the shared machine hits both alike), the challenger in shadow
(``ChallengeService.observe``) and the sequential test (``ChallengeService.decide``), timed
apart.

Usage: ``python bench/serving/bench_challenge.py [--candles 1000] [--data-end 2019-06-01]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd
from _machine import describe_machine

PAIR = "BTC"
BLOCK = 25


def register(home: Path, data_end: str) -> None:
    """Register the champion and the challenger of PAIR under ``home``."""
    from mlpkg.config import RunConfig, Settings
    from mlpkg.evaluation.promotion import manual_decision
    from mlpkg.pipelines.train import train_pair
    from mlpkg.tracking import registry

    settings = Settings(home=home, mlruns_dir=home / "mlruns", pairs=[PAIR])
    config = RunConfig.from_flat(
        pair=PAIR, models="logistic", data_end=data_end, max_rows=3000, n_folds=2, n_seeds=1
    )
    champion = train_pair(config, settings)
    registry.promote(PAIR, champion.version, manual=manual_decision(champion.version))
    earlier = (pd.Timestamp(data_end, tz="UTC") - pd.Timedelta(days=7)).isoformat()
    retrain = RunConfig.from_flat(**{**config.to_flat(), "data_end": earlier})
    train_pair(retrain, settings, as_challenger=True)


def serve(home: Path, candles: int, data_end: str) -> dict[str, np.ndarray]:
    """Serve ``candles`` candles after ``data_end``; per-candle seconds of each part."""
    from fastapi.testclient import TestClient

    from mlpkg.serving.app import create_app

    os.environ["MLPKG_STORAGE_PATH"] = str(home / "store" / "predictions.db")
    app = create_app()
    times: dict[str, list[float]] = {
        k: [] for k in ("alone", "beside", "settle, alone", "settle, beside", "shadow", "decide")
    }
    with TestClient(app):
        state = app.state.serving
        model = state.models.get(PAIR)
        history = state.feed.all_candles(PAIR)
        start = int(history.index.searchsorted(pd.Timestamp(data_end, tz="UTC"))) + 24
        challenge = state.live.challenge
        assert challenge.challenger(PAIR) is not None, "no challenger registered"
        for i, end in enumerate(range(start, start + candles)):
            window = history.iloc[end - model.bundle.history_rows : end]
            shadow = (i // BLOCK) % 2 == 1
            began = time.perf_counter()  # as the loop does first: settle what this candle ends
            state.store.fill_outcomes(PAIR, window["close"].iloc[-1:])
            settled = time.perf_counter() - began
            times["settle, beside" if shadow else "settle, alone"].append(settled)
            began = time.perf_counter()
            state.predictor.score_candles(PAIR, model, window)
            times["beside" if shadow else "alone"].append(time.perf_counter() - began)
            if shadow:
                began = time.perf_counter()
                challenge.observe(PAIR, model, window)
                times["shadow"].append(time.perf_counter() - began)
                began = time.perf_counter()
                challenge.decide(PAIR, model)
                times["decide"].append(time.perf_counter() - began)
        print(f"challenge after {candles} candles: {challenge.current(PAIR)}")
    return {k: np.asarray(v) for k, v in times.items()}


def row(name: str, seconds: np.ndarray) -> str:
    """One table row: p50, p90, p99 in ms and the count."""
    p50, p90, p99 = np.percentile(seconds * 1000, [50, 90, 99])
    return f"| {name} | {p50:.3f} | {p90:.3f} | {p99:.3f} | {len(seconds)} |"


def main() -> None:
    """Register the two versions, serve both series, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candles", type=int, default=1000)
    parser.add_argument("--data-end", default="2019-06-01")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mlpkg-bench-challenge-"))
    os.environ.update(
        {
            "MLPKG_HOME": str(home),
            "MLPKG_MLRUNS_DIR": str(home / "mlruns"),
            "MLPKG_PAIRS": PAIR,
            "MLPKG_MODEL_POLL_S": "0",
            "MLPKG_PREDICTION_CACHE_S": "0",
            "MLPKG_LIVE_SCORING": "false",
            "MLPKG_LOG_LEVEL": "WARNING",
        }
    )
    try:
        register(home, args.data_end)
        print(describe_machine())
        times = serve(home, args.candles, args.data_end)
        print("| per candle | p50 ms | p90 ms | p99 ms | candles |")
        print("|---|---:|---:|---:|---:|")
        print(row("champion alone", times["alone"]))
        print(row("champion, then the challenger in shadow", times["beside"]))
        print(row("settling the candle's outcomes, no challenger", times["settle, alone"]))
        print(row("settling the candle's outcomes, with the shadow", times["settle, beside"]))
        print(row("challenger in shadow (observe)", times["shadow"]))
        print(row("sequential test (decide)", times["decide"]))
        print(describe_machine())
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
