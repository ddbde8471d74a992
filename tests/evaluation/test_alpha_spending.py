"""A small version of bench/selection/bench_alpha_spending.py: one holdout, many candidates.

Fifty null candidates (mean-zero, MA(h-1), shared-holdout loss differentials) are tested in turn
on each of 60 holdouts. Held to alpha every time, a false promotion somewhere is the rule; with
alpha_k = alpha * 6 / (pi^2 k^2) it stays near alpha (at most 9 of 60 even at exactly 5 %: the
binomial tail beyond that is below 0.2 %).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "selection" / "bench_alpha_spending.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_alpha_spending", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_alpha_spending_keeps_family_wise_false_promotion_near_alpha():
    outcome = _bench().simulate(
        "differentials", reps=60, candidates=50, rows=400, horizon=5, shared=0.5, seed=3
    )
    assert outcome.without >= 18  # without spending: at least 30 % of the holdouts promote
    assert outcome.spent <= 9
    assert outcome.spent < outcome.without / 2
