"""Benchmark: how often the promotion rule promotes on noise, and on a planted signal.

Each trial builds synthetic hourly candles (``mlpkg.data.synthetic``): a pure random walk (any
promotion is false) or a walk whose mean return follows the UTC hour (learnable from the time
features). It runs the real protocol without MLflow: development folds, the selected candidate
refit and scored once on the holdout, and ``decide_promotion`` (no champion).

Usage: ``python bench/selection/bench_false_promotion.py [--family logistic] [--trials 40]
[--rows 3000] [--drifts 0 0.002 0.004]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import describe_machine
from scipy import stats

from mlpkg.config import RunConfig
from mlpkg.data.synthetic import synthetic_candles
from mlpkg.evaluation.promotion import best_naive, decide_promotion
from mlpkg.models.baselines import NAIVE_BASELINES
from mlpkg.pipelines.dataset import build_dataset
from mlpkg.pipelines.evaluate import evaluate_development
from mlpkg.pipelines.holdout import score_holdout


def trial(config: RunConfig, rows: int, seed: int, drift: float) -> tuple[bool, list[bool]]:
    """One protocol run; returns (promoted, each condition passed)."""
    # The steps of tests/pipelines/test_selection_rates.py _promoted (a bench script imports
    # nothing from the tests): train_pair's protocol without MLflow, the ledger or a champion.
    dataset = build_dataset(synthetic_candles(rows, seed, hourly_drift=drift), config)
    development = evaluate_development(dataset, config)
    holdout = score_holdout(development, config)
    decision = decide_promotion(
        holdout,
        development.procedure.name,
        baseline=best_naive(development.base_predictions, NAIVE_BASELINES),
        horizon=config.horizon,
        champion=None,
    )
    return decision.promote, [c.passed for c in decision.conditions[:2]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", default="logistic")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--drifts", type=float, nargs="+", default=[0.0, 0.002, 0.004])
    parser.add_argument("--param", action="append", default=[], help="run parameter KEY=VALUE")
    args = parser.parse_args()
    params = dict(item.split("=", 1) for item in args.param)
    config = RunConfig.from_flat(
        models=args.family,
        n_folds=3,
        holdout_fraction=0.25,
        holdout_blocks=4,
        importance_rows=0,
        **params,
    )
    print(describe_machine())
    print(f"family {args.family}, {args.rows} hourly candles per trial, {args.trials} trials")
    print(
        "| hourly drift | trials | promoted | rate | 95 % interval | DM+margin passed | "
        "blocks passed | seconds |"
    )
    print("|---:|---:|---:|---:|---|---:|---:|---:|")
    for drift in args.drifts:
        started = time.perf_counter()
        outcomes = [trial(config, args.rows, seed, drift) for seed in range(args.trials)]
        promoted = sum(o[0] for o in outcomes)
        low, high = stats.binomtest(promoted, args.trials).proportion_ci(method="wilson")
        print(
            f"| {drift:g} | {args.trials} | {promoted} | {promoted / args.trials:.3f} | "
            f"{low:.3f}-{high:.3f} | {sum(o[1][0] for o in outcomes)} | "
            f"{sum(o[1][1] for o in outcomes)} | {time.perf_counter() - started:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
