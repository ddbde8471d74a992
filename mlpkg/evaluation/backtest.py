"""Backtest a signal policy on time-ordered predictions, beside buy-and-hold and always-flat.

The accounting (docs/models.md, "Signals and their backtest"):

* **When a signal is known.** Row t's P(up) is computed from candles up to and including
  candle t, so it is known at candle t's close; the position it implies is entered **at that
  close** (for these 24/7 markets, the next candle's open) and earns candle t+1's return
  ``close[t+1] / close[t] - 1``.
* **An h-step prediction is held as h overlapping tranches.** Each candle's signal opens a
  tranche of ``1/h`` of its position and holds it for h candles (the period the prediction is
  about); the position held from t to t+1 is the mean of the signal positions of candles
  t-h+1 .. t (zeros before the first). With h = 1 the position is simply re-evaluated each
  candle.
* **Costs.** Every change of the held position costs ``fee_bps + slippage_bps`` per unit of
  change (a flip from +1 to -1 costs twice), entry from flat included; the position is closed
  (and charged) after the last candle.
* **Metrics** of the per-candle net returns: Sharpe, Sortino and maximum drawdown from
  ``empyrical`` (annualised with the candles per year of the interval, 24/7), total and mean
  log return, turnover (mean absolute position change per candle), exposure (mean absolute
  position), hit rate (share of candles in the market with a positive net return).
* **Against buy-and-hold**: the per-candle difference in net return, its mean and a 95 %
  interval from a HAC (rectangular kernel, lags 0 .. h-1) long-run variance, with the two-sided
  DM p-value (``mlpkg.evaluation.significance``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import empyrical
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.significance import autocovariances, dm_statistics, long_run_variance
from mlpkg.models.signals import NORMAL_SIZE, SignalPolicy

YEAR = pd.Timedelta(days=365.25)
HOUR = pd.Timedelta(hours=1)
STRATEGIES = ("policy", "buy_hold", "flat")


@dataclass(frozen=True)
class Costs:
    """What a unit of position change costs, and the period of one candle.

    Attributes:
        fee_bps: Fee per unit of position change, in basis points.
        slippage_bps: Slippage per unit of position change, in basis points.
        horizon: The prediction horizon h (candles a tranche is held).
        interval: One candle's duration (for annualising).
    """

    fee_bps: float
    slippage_bps: float = 0.0
    horizon: int = 1
    interval: pd.Timedelta = HOUR

    @property
    def rate(self) -> float:
        """The cost of one unit of position change, as a fraction."""
        return (self.fee_bps + self.slippage_bps) / 1e4

    @property
    def periods_per_year(self) -> float:
        """Candles per year (markets open around the clock)."""
        return float(YEAR / self.interval)


def signal_positions(proba_up: ArrayLike, policy: SignalPolicy) -> np.ndarray:
    """The position each P(up) stands for under ``policy`` (vectorised ``describe_prediction``).

    STRONG signals (confidence above ``strong``) stand for a full unit, BUY/SELL for half a unit;
    a SELL is a short in ``long_short`` mode and flat in ``long_flat`` mode; HOLD is flat.
    """
    p = np.asarray(proba_up, dtype=np.float64)
    confidence = np.abs(p - 0.5) * 2.0
    size = np.where(
        confidence > policy.strong, 1.0, np.where(confidence > policy.normal, NORMAL_SIZE, 0.0)
    )
    down = -1.0 if policy.mode == "long_short" else 0.0
    return np.asarray(size * np.where(p > 0.5, 1.0, down))


def held_positions(signals: ArrayLike, horizon: int) -> np.ndarray:
    """The position held after each candle: the mean of the last ``horizon`` signal positions."""
    if horizon < 1:
        raise MlpkgError(f"horizon must be >= 1, got {horizon}.")
    s = np.asarray(signals, dtype=np.float64)
    total = np.cumsum(np.concatenate([[0.0], s]))
    start = np.maximum(np.arange(1, len(s) + 1) - horizon, 0)
    return np.asarray((total[1:] - total[start]) / horizon)


def net_returns(held: np.ndarray, next_return: np.ndarray, rate: float) -> np.ndarray:
    """Per-candle net return: the held position times the next candle's return, less costs."""
    if held.shape != next_return.shape:
        raise MlpkgError(f"{len(held)} positions but {len(next_return)} candle returns.")
    if np.isnan(next_return).any():
        raise MlpkgError("Candle returns must not hold NaN: drop the rows without a next close.")
    changes = np.abs(np.diff(held, prepend=0.0))
    if len(held):
        changes[-1] += abs(held[-1])  # closed after the last candle
    return np.asarray(held * next_return - changes * rate)


def performance(held: np.ndarray, net: np.ndarray, costs: Costs) -> dict[str, float]:
    """The metrics of one strategy's per-candle net returns (see the module docstring)."""
    if not len(net):
        raise MlpkgError("No candles to backtest.")
    annual = costs.periods_per_year
    in_market = held != 0
    log_returns = np.log1p(net)
    quiet = not net.any()  # always flat: the ratios are undefined, report them as 0
    return {
        "total_return": float(np.expm1(log_returns.sum())),
        "mean_log_return": float(log_returns.mean()),
        "annual_return": float(np.expm1(log_returns.mean() * annual)),
        "sharpe": 0.0 if quiet else float(empyrical.sharpe_ratio(net, annualization=annual)),
        "sortino": 0.0 if quiet else float(empyrical.sortino_ratio(net, annualization=annual)),
        "max_drawdown": float(empyrical.max_drawdown(net)) if len(net) > 1 else 0.0,
        "turnover": float(np.abs(np.diff(held, prepend=0.0)).mean()),
        "exposure": float(np.abs(held).mean()),
        "hit_rate": float((net[in_market] > 0).mean()) if in_market.any() else math.nan,
        "candles": float(len(net)),
    }


@dataclass(frozen=True)
class Comparison:
    """The policy's mean per-candle net return minus buy-and-hold's, with a 95 % interval."""

    mean_diff: float
    low: float
    high: float
    p_value: float
    n: int

    def as_dict(self) -> dict[str, float]:
        """The numbers, keyed ``diff_mean, diff_low, diff_high, diff_p, diff_n``."""
        return {
            "diff_mean": self.mean_diff,
            "diff_low": self.low,
            "diff_high": self.high,
            "diff_p": self.p_value,
            "diff_n": float(self.n),
        }


def compare_returns(a: np.ndarray, b: np.ndarray, horizon: int) -> Comparison:
    """Mean of ``a - b`` with a HAC 95 % interval (lags 0 .. h-1) and the two-sided DM p."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(d)
    if n < 2:
        raise MlpkgError(f"At least 2 candles are needed to compare returns, got {n}.")
    gammas = autocovariances(d, min(horizon - 1, n - 1))
    variance = float(long_run_variance(gammas, "rectangular"))
    if variance <= 0.0:
        variance = float(long_run_variance(gammas, "bartlett"))
    half = float(stats.t.ppf(0.975, n - 1)) * math.sqrt(max(variance, 0.0) / n)
    _, p_value, _ = dm_statistics(d, horizon, "two-sided")
    mean = float(d.mean())
    return Comparison(mean, mean - half, mean + half, float(p_value[0]), n)


@dataclass(frozen=True, eq=False)
class Backtest:
    """A policy's backtest beside buy-and-hold and always-flat on the same candles.

    Attributes:
        policy: The thresholds and mode that were traded.
        costs: Fees, slippage, horizon and candle interval.
        frame: One row per candle (``open_time`` index): ``proba_up, next_return``, and per
            strategy ``<name>_position, <name>_net, <name>_equity, <name>_drawdown``.
        metrics: One row per strategy (``policy, buy_hold, flat``), the :func:`performance` keys.
        versus_buy_hold: The policy's per-candle difference with buy-and-hold.
        versus_flat: The policy's per-candle net return against always-flat's (zero).
    """

    policy: SignalPolicy
    costs: Costs
    frame: pd.DataFrame
    metrics: pd.DataFrame
    versus_buy_hold: Comparison
    versus_flat: Comparison

    @property
    def signal_share(self) -> float:
        """Share of candles whose signal is not HOLD (BUY/SELL or STRONG)."""
        confidence = np.abs(self.frame["proba_up"].to_numpy() - 0.5) * 2.0
        return float((confidence > self.policy.normal).mean())

    def flat_metrics(self, prefix: str) -> dict[str, float]:
        """Every number keyed ``<prefix><strategy>_<metric>`` (finite values only)."""
        flat = {
            f"{prefix}{name}_{key}": float(value)
            for name, row in self.metrics.iterrows()
            for key, value in row.items()
        }
        for other, versus in (("buy_hold", self.versus_buy_hold), ("flat", self.versus_flat)):
            flat.update({f"{prefix}policy_vs_{other}_{k}": v for k, v in versus.as_dict().items()})
        flat[f"{prefix}policy_signal_share"] = self.signal_share
        return {k: v for k, v in flat.items() if math.isfinite(v)}


def run_backtest(
    open_time: pd.DatetimeIndex,
    proba_up: ArrayLike,
    next_return: ArrayLike,
    policy: SignalPolicy,
    costs: Costs,
) -> Backtest:
    """Backtest ``policy`` on consecutive candles, beside buy-and-hold and always-flat.

    Args:
        open_time: The candles' open times, increasing.
        proba_up: P(up) of each candle (known at its close).
        next_return: The next candle's return ``close[t+1] / close[t] - 1`` of each candle.
        policy: The thresholds and mode to trade.
        costs: Fees, slippage, horizon and interval.
    """
    p = np.asarray(proba_up, dtype=np.float64)
    r = np.asarray(next_return, dtype=np.float64)
    held = {
        "policy": held_positions(signal_positions(p, policy), costs.horizon),
        "buy_hold": np.ones(len(p)),
        "flat": np.zeros(len(p)),
    }
    frame = pd.DataFrame({"proba_up": p, "next_return": r}, index=open_time)
    metrics = {}
    for name, position in held.items():
        net = net_returns(position, r, costs.rate)
        equity = np.cumprod(1.0 + net)
        frame[f"{name}_position"] = position
        frame[f"{name}_net"] = net
        frame[f"{name}_equity"] = equity
        frame[f"{name}_drawdown"] = equity / np.maximum.accumulate(np.maximum(equity, 1.0)) - 1.0
        metrics[name] = performance(position, net, costs)
    versus = compare_returns(frame["policy_net"], frame["buy_hold_net"], costs.horizon)
    against_flat = compare_returns(frame["policy_net"], frame["flat_net"], costs.horizon)
    table = pd.DataFrame.from_dict(metrics, orient="index").loc[list(STRATEGIES)]
    return Backtest(policy, costs, frame, table, versus, against_flat)


def format_backtest(backtest: Backtest, title: str) -> str:
    """Fixed-width text of a backtest: one line per strategy, then the comparison."""
    columns = ("total_return", "sharpe", "sortino", "max_drawdown", "turnover", "exposure")
    header = "strategy".ljust(10) + "".join(c.rjust(14) for c in (*columns, "hit_rate"))
    lines = [title, header]
    for name, row in backtest.metrics.iterrows():
        cells = "".join(f"{row[c]:.4f}".rjust(14) for c in (*columns, "hit_rate"))
        lines.append(str(name).ljust(10) + cells)
    lines.append(f"signals other than HOLD on {backtest.signal_share:.1%} of the candles")
    for other, v in (("buy_hold", backtest.versus_buy_hold), ("flat", backtest.versus_flat)):
        lines.append(
            f"policy - {other}, mean net return per candle: {v.mean_diff:+.6f} (95 % interval "
            f"{v.low:+.6f} .. {v.high:+.6f}, two-sided p={v.p_value:.3g}, n={v.n})"
        )
    return "\n".join(lines)
