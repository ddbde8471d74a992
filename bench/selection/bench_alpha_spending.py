"""Benchmark: family-wise false promotion when one holdout scores many candidates in turn.

A holdout scored by k successive candidates is tested k times. Each repetition draws one
holdout and scores ``--candidates`` candidates on it, none better than the naive reference;
the repetition counts a **family-wise false promotion** when any candidate passes the rule's
test. Two levels are compared, through the package's own one-sided Diebold-Mariano test
(``dm_statistics``: HLN correction, lags 0..h-1, t(n-1)):

* no spending: every candidate is held to alpha = 0.05;
* spending (``mlpkg.evaluation.promotion.spent_alpha``): the k-th candidate to score rows of
  the holdout is held to alpha_k = alpha * 6 / (pi^2 k^2), so the levels sum to at most alpha.

Two kinds of null candidate (``--mode``):

* ``differentials`` (the least favourable null): each candidate's loss differential against the
  reference has mean zero exactly, is MA(h-1)-correlated in time like h-step outcomes, and
  shares a component with every other candidate's (``--shared``: they are scored on the same
  holdout rows). Only the DM test is applied (no margin), so this measures the test itself.
* ``models``: a random-walk holdout (hourly log returns, h-step direction labels); the
  reference predicts 0.5, and each candidate is a momentum rule of random lookback, strength and
  sign (it reads only past returns, so it has no skill). Real log losses; the rule's
  ``beats_naive`` condition (DM at the level, plus the ``MIN_GAIN_NATS`` margin) decides.

Usage: ``python bench/selection/bench_alpha_spending.py [--mode differentials] [--reps 200]
[--candidates 50] [--rows 2000] [--horizon 5] [--shared 0.5] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlpkg.evaluation.metrics import log_losses
from mlpkg.evaluation.promotion import MIN_GAIN_NATS, SIGNIFICANCE_LEVEL, spent_alpha
from mlpkg.evaluation.significance import dm_statistics


@dataclass(frozen=True)
class Outcome:
    """Family-wise false promotions over the repetitions, without and with spending."""

    reps: int
    candidates: int
    without: int
    spent: int
    first_use_rate: float

    def row(self, mode: str, seconds: float) -> str:
        """One Markdown table row."""
        return (
            f"| {mode} | {self.candidates} | {self.reps} | {self.without / self.reps:.3f} "
            f"({self.without}) | {self.spent / self.reps:.3f} ({self.spent}) | "
            f"{wilson_upper(self.spent, self.reps):.3f} | {self.first_use_rate:.3f} | "
            f"{seconds:.1f} |"
        )


def wilson_upper(successes: int, trials: int, z: float = 1.959964) -> float:
    """Upper end of the Wilson 95 % interval of a binomial rate."""
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return float((centre + spread) / (1 + z * z / trials))


def null_differentials(
    rng: np.random.Generator, candidates: int, rows: int, horizon: int, shared: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean-zero MA(h-1) loss differentials (candidates x rows), a share common to all."""
    kernel = np.ones(horizon) / np.sqrt(horizon)
    common = np.convolve(rng.standard_normal(rows + horizon - 1), kernel, mode="valid")
    own = rng.standard_normal((candidates, rows + horizon - 1))
    own = np.apply_along_axis(lambda x: np.convolve(x, kernel, mode="valid"), 1, own)
    d = np.sqrt(shared) * common + np.sqrt(1.0 - shared) * own
    return d * 0.01, np.zeros(candidates)  # scale: about 0.01 nats, like real differentials


def momentum_differentials(
    rng: np.random.Generator, candidates: int, rows: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Log-loss differentials of no-skill momentum rules vs p = 0.5 on a random-walk holdout."""
    warm = 48
    returns = rng.normal(0.0, 0.01, warm + rows + horizon)
    price = np.concatenate([[0.0], np.cumsum(returns)])
    t = np.arange(warm, warm + rows)
    y = (price[t + horizon] > price[t]).astype(np.float64)
    reference = log_losses(y, np.full(rows, 0.5))
    d = np.empty((candidates, rows))
    for k in range(candidates):
        lookback = int(rng.integers(1, warm))
        strength = rng.uniform(0.005, 0.04) * rng.choice([-1.0, 1.0])
        signal = (price[t] - price[t - lookback]) / (0.01 * np.sqrt(lookback))
        d[k] = log_losses(y, 0.5 + strength * np.tanh(signal)) - reference
    return d, -d.mean(axis=1)  # gains in nats (reference loss - candidate loss)


def simulate(
    mode: str,
    *,
    reps: int,
    candidates: int,
    rows: int,
    horizon: int,
    shared: float = 0.5,
    seed: int = 0,
) -> Outcome:
    """Run the repetitions and count family-wise false promotions without and with spending."""
    rng = np.random.default_rng(seed)
    levels = np.array([spent_alpha(k) for k in range(1, candidates + 1)])
    without = spent = first = 0
    for _ in range(reps):
        if mode == "differentials":
            d, gains = null_differentials(rng, candidates, rows, horizon, shared)
            margin = np.ones(candidates, dtype=bool)
        else:
            d, gains = momentum_differentials(rng, candidates, rows, horizon)
            margin = gains >= MIN_GAIN_NATS
        _, p_values, _ = dm_statistics(d, horizon, "less")
        without += bool(np.any((p_values < SIGNIFICANCE_LEVEL) & margin))
        spent += bool(np.any((p_values < levels) & margin))
        first += bool((p_values[0] < SIGNIFICANCE_LEVEL) & margin[0])
    return Outcome(reps, candidates, without, spent, first / reps)


def main() -> None:
    from _machine import describe_machine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["differentials", "models", "both"], default="both")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--shared", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(describe_machine())
    print(
        f"{args.candidates} successive candidates per holdout, {args.rows} holdout rows, "
        f"h={args.horizon}, shared share {args.shared:g}, alpha={SIGNIFICANCE_LEVEL:g}"
    )
    print(
        "| null | candidates | repetitions | family-wise false promotion, no spending | "
        "with spending | 95 % upper (Wilson) | first candidate alone | seconds |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    modes = ["differentials", "models"] if args.mode == "both" else [args.mode]
    for mode in modes:
        started = time.perf_counter()
        outcome = simulate(
            mode,
            reps=args.reps,
            candidates=args.candidates,
            rows=args.rows,
            horizon=args.horizon,
            shared=args.shared,
            seed=args.seed,
        )
        print(outcome.row(mode, time.perf_counter() - started))


if __name__ == "__main__":
    main()
