"""Benchmark: size and power of the live champion/challenger test, checked after every candle.

Simulated loss differentials ``d_t = loss(challenger) - loss(champion)`` of h-step outcomes made
every candle: MA(h-1) with equal weights over Student-t(4) innovations, per-candle standard
deviation ``--sd`` nats (0.05: two decent hourly direction models), mean 0 (the null: every
promotion is false) or minus a planted gain in millinats. ``decide_challenge`` sees the whole
path, so a decision is the first candle at which the interval excludes 0 (continuous
monitoring), never a look at the end only. Also runs the invalid variant that ignores the
overlap (``horizon=1`` on h-step differentials) to show what the long-run variance buys.

Usage: ``python bench/selection/bench_sequential.py [--reps 500] [--candles 5000]
[--horizons 1 5 24] [--gains 2 5 10]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _machine import describe_machine
from scipy import stats

from mlpkg.evaluation.sequential import SequentialConfig, decide_challenge


def differentials(
    rng: np.random.Generator, n: int, horizon: int, sd: float, mean: float
) -> np.ndarray:
    """One MA(h-1) path of ``n`` differentials with t(4) innovations, sd ``sd``, mean ``mean``."""
    shocks = rng.standard_t(4, size=n + horizon - 1) / np.sqrt(2.0)  # unit variance
    ma = np.convolve(shocks, np.ones(horizon), mode="valid") / np.sqrt(horizon)
    return mean + sd * ma


def run_case(
    config: SequentialConfig, reps: int, sd: float, gain_mnat: float, seed: int, data_h: int
) -> str:
    """One table row: share promoted, rejected, undecided; median candles to a decision."""
    rng = np.random.default_rng(seed)
    promoted, rejected, decided_at = 0, 0, []
    for _ in range(reps):
        d = differentials(rng, config.max_candles, data_h, sd, -gain_mnat / 1000.0)
        evidence = decide_challenge(d, config)
        decided = "maximum" not in evidence.reason and evidence.state != "watching"
        promoted += evidence.state == "promoted"
        rejected += evidence.state == "rejected" and decided
        if decided:
            decided_at.append(evidence.n)
    share = promoted / reps
    upper = stats.beta.ppf(0.975, promoted + 1, reps - promoted) if promoted < reps else 1.0
    median = f"{np.median(decided_at):,.0f}" if decided_at else "-"
    return (
        f"| {data_h} | {gain_mnat:g} | {reps} | {share:.1%} (≤ {upper:.1%}) | "
        f"{rejected / reps:.1%} | {1 - (promoted + rejected) / reps:.1%} | {median} |"
    )


def main() -> None:
    """Print the size and power table (markdown) and the machine."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--candles", type=int, default=5000)
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 5, 24])
    parser.add_argument("--gains", type=float, nargs="+", default=[2.0, 5.0, 10.0])
    parser.add_argument("--sd", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    start = time.perf_counter()
    print(describe_machine())
    print(
        "| h | planted gain (mnat) | reps | promoted (95 % upper) | rejected | undecided "
        "at max | median candles to decide |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for h in args.horizons:
        config = SequentialConfig(horizon=h, alpha=args.alpha, max_candles=args.candles)
        for i, gain in enumerate([0.0, *args.gains]):
            print(run_case(config, args.reps, args.sd, gain, 1000 * h + i, h), flush=True)
        if h > 1:  # the invalid variant: the overlap ignored
            naive = replace(config, horizon=1, burn_in=config.warmup)
            row = run_case(naive, args.reps, args.sd, 0.0, 1000 * h + 99, h)
            print(row.replace(f"| {h} |", f"| {h}, overlap ignored |", 1), flush=True)
    print(f"wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
