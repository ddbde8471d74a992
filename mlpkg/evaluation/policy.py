"""Choose a version's signal thresholds on its development folds' out-of-fold predictions.

The objective, stated: the **mean net log return per candle** of the policy, backtested fold by
fold with the accounting of ``mlpkg.evaluation.backtest`` (h overlapping tranches, fees and
slippage per unit of position change), **minus a turnover penalty** (``policy_turnover_bps``
per unit of mean position change), among the threshold pairs whose signals take a position on
at least ``policy_min_trades`` development candles. The thresholds tried are quantiles of the
development confidence (``|p - 0.5| * 2``): STRONG is always above BUY/SELL (two tiers, so
BUY/SELL answers exist between them), and "never STRONG" (1.0) is always a choice. Always-flat
scores exactly 0: when no pair beats it (or none trades often enough), the policy is flat (every
signal HOLD) and says why. Only development rows are read; the holdout never enters the choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.backtest import Costs, held_positions, net_returns, signal_positions
from mlpkg.models.signals import PolicyMode, SignalPolicy

GRID_QUANTILES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
"""Quantiles of the development confidence tried as thresholds."""
NEVER = 1.0
"""A threshold no confidence exceeds (no signal of that strength)."""


@dataclass(frozen=True)
class Objective:
    """What the thresholds maximise, and under which constraint.

    Attributes:
        mode: ``long_flat`` or ``long_short``.
        costs: Fees, slippage, horizon and candle interval of the backtest.
        min_trades: Development candles on which the signal must take a position.
        turnover_bps: Penalty per unit of mean position change per candle, in basis points.
    """

    mode: PolicyMode
    costs: Costs
    min_trades: int = 100
    turnover_bps: float = 0.0

    def describe(self) -> str:
        """One line stating the objective."""
        return (
            f"max mean net log return per candle - {self.turnover_bps:g} bp x turnover, "
            f"{self.mode}, fee {self.costs.fee_bps:g} bp + slippage {self.costs.slippage_bps:g} "
            f"bp, h={self.costs.horizon} tranches, >= {self.min_trades} trading candles"
        )


@dataclass(frozen=True)
class DevelopmentFold:
    """One development fold's out-of-fold predictions, in time order."""

    proba_up: np.ndarray
    next_return: np.ndarray


@dataclass(frozen=True, eq=False)
class PolicyChoice:
    """The chosen policy and every threshold pair tried (one row each)."""

    policy: SignalPolicy
    objective: Objective
    grid: pd.DataFrame


def threshold_grid(confidence: np.ndarray) -> list[float]:
    """The thresholds tried: quantiles of the development confidence, rounded to 1e-3."""
    if not len(confidence):
        raise MlpkgError("No development predictions to choose signal thresholds on.")
    values = np.round(np.quantile(confidence, GRID_QUANTILES), 3)
    return sorted({float(v) for v in values})


def score_thresholds(
    folds: Sequence[DevelopmentFold], policy: SignalPolicy, objective: Objective
) -> dict[str, float]:
    """Backtest ``policy`` on each fold (positions restart flat) and score the objective."""
    nets, turnovers, trades = [], [], 0
    for fold in folds:
        signals = signal_positions(fold.proba_up, policy)
        held = held_positions(signals, objective.costs.horizon)
        nets.append(net_returns(held, fold.next_return, objective.costs.rate))
        turnovers.append(np.abs(np.diff(held, prepend=0.0)))
        trades += int((signals != 0).sum())
    net, turnover = np.concatenate(nets), np.concatenate(turnovers)
    mean_log = float(np.log1p(net).mean())
    return {
        "normal": policy.normal,
        "strong": policy.strong,
        "mean_log_return": mean_log,
        "turnover": float(turnover.mean()),
        "trades": float(trades),
        "objective": mean_log - objective.turnover_bps / 1e4 * float(turnover.mean()),
    }


def choose_policy(folds: Sequence[DevelopmentFold], objective: Objective) -> PolicyChoice:
    """Choose the thresholds that maximise ``objective`` on the development folds.

    Raises:
        MlpkgError: when there is no development prediction.
    """
    grid_values = threshold_grid(np.concatenate([np.abs(f.proba_up - 0.5) * 2.0 for f in folds]))
    rows = [
        score_thresholds(folds, SignalPolicy(normal, strong, objective.mode), objective)
        for normal in grid_values
        for strong in [*(s for s in grid_values if s > normal), NEVER]
    ]
    grid = pd.DataFrame(rows)
    allowed = grid[grid["trades"] >= objective.min_trades]
    # Best objective; ties go to the higher thresholds (fewer trades).
    ranked = allowed.sort_values(["objective", "normal", "strong"], ascending=False)
    if ranked.empty or ranked["objective"].iloc[0] <= 0.0:
        why = (
            f"no thresholds trade on >= {objective.min_trades} development candles"
            if ranked.empty
            else "no thresholds beat always-flat on the development folds after costs"
        )
        policy = SignalPolicy(NEVER, NEVER, objective.mode, 0.0, f"flat: {why}")
        return PolicyChoice(policy, objective, grid)
    best = ranked.iloc[0]
    note = (
        f"chosen on {len(folds)} development folds ({int(best['trades'])} trading candles): "
        f"{objective.describe()}"
    )
    policy = SignalPolicy(
        float(best["normal"]), float(best["strong"]), objective.mode, float(best["objective"]), note
    )
    return PolicyChoice(policy, objective, grid)
