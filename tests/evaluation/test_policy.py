"""Thresholds chosen on development folds: a planted edge is found, no edge gives flat."""

from __future__ import annotations

import numpy as np

from mlpkg.evaluation.backtest import Costs
from mlpkg.evaluation.policy import NEVER, DevelopmentFold, Objective, choose_policy


def _folds(edge_above: float | None, *, n: int = 1500, folds: int = 3, seed: int = 0):
    """Folds of P(up) and next returns; above ``edge_above`` confidence the sign is known."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(folds):
        p = rng.uniform(0.05, 0.95, n)
        r = rng.normal(0.0, 0.01, n)
        if edge_above is not None:
            confident = np.abs(p - 0.5) * 2 > edge_above
            r[confident] = np.abs(r[confident]) * np.where(p[confident] > 0.5, 1.0, -1.0)
        out.append(DevelopmentFold(p, r))
    return out


def test_a_planted_edge_is_traded_above_its_confidence():
    objective = Objective("long_short", Costs(fee_bps=10.0, horizon=1), min_trades=50)
    choice = choose_policy(_folds(0.6), objective)
    policy = choice.policy
    # Full positions from about the planted confidence on; a half-size tier just below it.
    assert 0.5 <= policy.strong <= 0.65 and policy.normal < policy.strong
    assert policy.objective > 0 and "chosen on 3 development folds" in policy.note
    assert len(choice.grid) > 10 and choice.grid["objective"].max() == policy.objective


def test_no_edge_after_fees_gives_a_flat_policy():
    objective = Objective("long_flat", Costs(fee_bps=10.0, horizon=5), min_trades=50)
    policy = choose_policy(_folds(None, seed=1), objective).policy
    assert policy.normal == policy.strong == NEVER
    assert policy.note.startswith("flat: no thresholds beat always-flat")


def test_too_few_trades_gives_a_flat_policy():
    objective = Objective("long_short", Costs(fee_bps=0.0), min_trades=10**9)
    policy = choose_policy(_folds(0.6), objective).policy
    assert policy.normal == NEVER and "no thresholds trade on" in policy.note


def test_a_turnover_penalty_never_raises_the_turnover():
    folds = _folds(0.3, seed=2)
    free = choose_policy(folds, Objective("long_short", Costs(fee_bps=1.0), min_trades=10))
    taxed = choose_policy(
        folds, Objective("long_short", Costs(fee_bps=1.0), min_trades=10, turnover_bps=50.0)
    )

    def turnover(choice):
        grid = choice.grid
        row = grid[
            (grid["normal"] == choice.policy.normal) & (grid["strong"] == choice.policy.strong)
        ]
        return float(row["turnover"].iloc[0]) if len(row) else 0.0

    assert turnover(taxed) <= turnover(free)
