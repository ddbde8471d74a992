"""A version's signal policy: chosen on its development folds, backtested once on the holdout.

* :func:`choose_signal_policy` reads the selected candidate's out-of-fold predictions of the
  base seed on the development folds (never a holdout row) and chooses the thresholds
  (``mlpkg.evaluation.policy``).
* :func:`backtest_holdout` trades that policy on the selected candidate's holdout predictions,
  beside buy-and-hold and always-flat (``mlpkg.evaluation.backtest``); it is part of the one
  holdout scoring, and only reported: promotion stays on log loss.
* :func:`log_signal_policy` and :func:`log_backtest` record them in the open MLflow run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpkg.config import RunConfig
from mlpkg.evaluation import plots
from mlpkg.evaluation.backtest import Backtest, Costs, format_backtest, run_backtest
from mlpkg.evaluation.policy import DevelopmentFold, Objective, PolicyChoice, choose_policy
from mlpkg.features.labels import make_labels
from mlpkg.models.signals import POLICY_META, SignalPolicy
from mlpkg.pipelines.dataset import PairDataset
from mlpkg.pipelines.evaluate import Development
from mlpkg.tracking import runs

__all__ = ["POLICY_META", "trade_signals"]


def next_returns(dataset: PairDataset) -> pd.Series:
    """Each candle's next-candle return ``close[t+1] / close[t] - 1`` (NaN before a gap)."""
    labels = make_labels(dataset.candles["close"], (1,), dataset.interval)
    return labels["future_return_1"]


def costs_of(config: RunConfig, interval: pd.Timedelta) -> Costs:
    """The backtest's costs: the run's fee and slippage, horizon and candle interval."""
    return Costs(
        fee_bps=config.walk_forward.fee_bps,
        slippage_bps=config.signal.slippage_bps,
        horizon=config.horizon,
        interval=interval,
    )


def objective_of(config: RunConfig, interval: pd.Timedelta) -> Objective:
    """The objective the thresholds maximise, from the run config."""
    return Objective(
        mode=config.signal.policy_mode,
        costs=costs_of(config, interval),
        min_trades=config.signal.policy_min_trades,
        turnover_bps=config.signal.policy_turnover_bps,
    )


def _with_next_return(rows: pd.DataFrame, returns: pd.Series) -> pd.DataFrame:
    rows = rows.sort_values("open_time")
    following = returns.reindex(pd.DatetimeIndex(rows["open_time"])).to_numpy(dtype=np.float64)
    return rows.assign(next_return=following)[np.isfinite(following)]


def development_folds(development: Development) -> list[DevelopmentFold]:
    """The chosen candidate's out-of-fold predictions (base seed), one entry per fold."""
    base = development.base_predictions
    rows = base[base["model"] == development.selection.chosen]
    returns = next_returns(development.dataset)
    folds = []
    for _, fold in rows.groupby("fold", sort=True):
        scored = _with_next_return(fold, returns)
        folds.append(
            DevelopmentFold(
                scored["proba_up"].to_numpy(dtype=np.float64),
                scored["next_return"].to_numpy(dtype=np.float64),
            )
        )
    return folds


def choose_signal_policy(development: Development, config: RunConfig) -> PolicyChoice:
    """Choose the selected candidate's thresholds on the development folds (no holdout row)."""
    objective = objective_of(config, development.dataset.interval)
    return choose_policy(development_folds(development), objective)


def development_backtest(
    development: Development, policy: SignalPolicy, config: RunConfig
) -> Backtest:
    """The policy traded on the development folds' out-of-fold predictions, folds in time order.

    In-sample for the thresholds (they were chosen on these rows): for notebook 20's plots.
    """
    base = development.base_predictions
    rows = _with_next_return(
        base[base["model"] == development.selection.chosen], next_returns(development.dataset)
    )
    return run_backtest(
        pd.DatetimeIndex(rows["open_time"]),
        rows["proba_up"],
        rows["next_return"],
        policy,
        costs_of(config, development.dataset.interval),
    )


def backtest_holdout(
    holdout: pd.DataFrame,
    candidate: str,
    policy: SignalPolicy,
    dataset: PairDataset,
    config: RunConfig,
) -> Backtest:
    """Trade ``policy`` on the candidate's holdout predictions, beside buy-and-hold and flat."""
    rows = _with_next_return(holdout[holdout["model"] == candidate], next_returns(dataset))
    return run_backtest(
        pd.DatetimeIndex(rows["open_time"]),
        rows["proba_up"],
        rows["next_return"],
        policy,
        costs_of(config, dataset.interval),
    )


def format_policy(choice: PolicyChoice) -> str:
    """One paragraph: the chosen thresholds and how they were chosen."""
    p = choice.policy
    return (
        f"SIGNAL POLICY (chosen on the development folds, never the holdout): BUY/SELL above "
        f"confidence {p.normal:.3f}, STRONG above {p.strong:.3f}, {p.mode}; objective "
        f"{p.objective:+.6f} per candle ({p.note})"
    )


def backtest_title(backtest: Backtest, where: str) -> str:
    """The title of a backtest's text and plot."""
    c = backtest.costs
    return (
        f"{where} BACKTEST of the signal policy ({backtest.policy.mode}, fee {c.fee_bps:g} bp + "
        f"slippage {c.slippage_bps:g} bp, h={c.horizon} tranches, entry at the close)"
    )


def log_signal_policy(choice: PolicyChoice) -> None:
    """Log the policy as params ``signal_policy_*``, ``signal_policy.json`` and the grid."""
    policy = choice.policy
    runs.log_params(
        {
            "signal_policy_normal": policy.normal,
            "signal_policy_strong": policy.strong,
            "signal_policy_mode": policy.mode,
            "signal_policy_objective": choice.objective.describe(),
        }
    )
    runs.log_dict(policy.as_dict(), "signal_policy.json")
    runs.log_frame(choice.grid, "signal_policy_grid")


def log_backtest(backtest: Backtest) -> str:
    """Log the holdout backtest (metrics ``holdout_backtest_*``, plot, per-candle CSV); its text."""
    title = backtest_title(backtest, "HOLDOUT")
    text = format_backtest(backtest, title)
    runs.log_metrics(backtest.flat_metrics("holdout_backtest_"))
    runs.log_text(text, "holdout_backtest.txt")
    runs.log_frame(backtest.frame, "holdout_backtest")
    runs.log_figures({"holdout_backtest": plots.plot_backtest(backtest.frame, title)})
    return text


def trade_signals(
    config: RunConfig, development: Development, holdout: pd.DataFrame | None
) -> tuple[SignalPolicy, str]:
    """Choose the policy on the development folds, backtest it on the holdout, log both.

    Args:
        config: The run config (fees, slippage, policy settings).
        development: The development period (its selected candidate's out-of-fold predictions).
        holdout: The holdout predictions (``mlpkg.pipelines.holdout.score_holdout``); ``None``
            to choose the policy only.

    Returns:
        The policy (for the bundle's ``meta.json``) and the printable text.
    """
    choice = choose_signal_policy(development, config)
    log_signal_policy(choice)
    text = format_policy(choice)
    if holdout is not None:
        backtest = backtest_holdout(
            holdout, development.selection.chosen, choice.policy, development.dataset, config
        )
        text += "\n" + log_backtest(backtest)
    return choice.policy, text
