"""Metrics of direction predictions: classification, confidence, trading.

Per-sample log losses stay in NumPy (sklearn only returns their mean; the DM test needs each).
The classification scores are NumPy too, and ROC AUC is scipy's Mann-Whitney U: sklearn.metrics
validates its input on every call (3.5 ms for the four scores of a 300-row block, over 20 times
the arithmetic), and a training scores every (seed, fold, model) block. The tests check each score
against sklearn.metrics.

Decisions follow the seed service: up when P(up) > 0.5 (exactly 0.5 counts as down).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mlpkg.errors import MlpkgError
from mlpkg.models.mixture import log_loss_terms

StrategyMode = Literal["long_flat", "long_short"]


def _pair(y_true: ArrayLike, proba_up: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(proba_up, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise MlpkgError(f"y_true has {len(y)} values but proba_up has {len(p)}.")
    if np.isnan(y).any() or np.isnan(p).any():
        raise MlpkgError("y_true and proba_up must not hold NaN; drop unscored/unlabelled rows.")
    return y, p


def log_losses(y_true: ArrayLike, proba_up: ArrayLike) -> np.ndarray:
    """Return per-sample binary log loss, with P clipped to [1e-15, 1 - 1e-15] (validated input)."""
    y, p = _pair(y_true, proba_up)
    return log_loss_terms(y, p)


def classification_metrics(y_true: ArrayLike, proba_up: ArrayLike) -> dict[str, float]:
    """Return accuracy, balanced accuracy, log loss, Brier, ROC AUC and up rates.

    Decisions: up when P(up) > 0.5. Balanced accuracy is the mean recall over the classes
    present; ROC AUC (Mann-Whitney U over both classes' counts, ties counted half, as
    sklearn's) is NaN when only one class is present. The values equal sklearn.metrics'.

    Raises:
        MlpkgError: on different lengths, NaN, or no samples.
    """
    from scipy.stats import mannwhitneyu

    y, p = _pair(y_true, proba_up)
    if len(y) == 0:
        raise MlpkgError("No samples to score.")
    pred = (p > 0.5).astype(np.float64)
    up = y == 1
    recalls = [float(np.mean(pred[y == label] == label)) for label in np.unique(y)]
    single_class = len(recalls) < 2
    auc = math.nan
    if not single_class:
        auc = float(mannwhitneyu(p[up], p[~up]).statistic / (up.sum() * (~up).sum()))
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(np.mean(recalls)),
        "log_loss": float(log_losses(y, p).mean()),
        "brier": float(np.mean((p - y) ** 2)),
        "roc_auc": auc,
        "up_rate_pred": float(pred.mean()),
        "up_rate_true": float(y.mean()),
        "n": float(len(y)),
    }


def confidence_buckets(
    y_true: ArrayLike,
    proba_up: ArrayLike,
    edges: Sequence[float] = (0.0, 0.1, 0.2, 0.4, 1.0),
) -> pd.DataFrame:
    """Accuracy by confidence bucket, confidence = ``|p - 0.5| * 2``.

    Buckets are ``[lower, upper)``, the last one closed; empty buckets have NaN accuracy.

    Returns:
        A frame with columns ``bucket, lower, upper, count, share, accuracy, mean_proba_up``.
    """
    y, p = _pair(y_true, proba_up)
    confidence = np.abs(p - 0.5) * 2.0
    correct = (p > 0.5) == (y == 1)
    rows = []
    for i, (lower, upper) in enumerate(pairwise(edges)):
        last = i == len(edges) - 2
        inside = (confidence >= lower) & ((confidence <= upper) if last else (confidence < upper))
        count = int(inside.sum())
        rows.append(
            {
                "bucket": f"{lower:g}-{upper:g}",
                "lower": float(lower),
                "upper": float(upper),
                "count": count,
                "share": count / len(y) if len(y) else math.nan,
                "accuracy": float(correct[inside].mean()) if count else math.nan,
                "mean_proba_up": float(p[inside].mean()) if count else math.nan,
            }
        )
    return pd.DataFrame(rows)


def trade_schedule(n_rows: int, horizon: int, times: ArrayLike | None = None) -> np.ndarray:
    """Positions of the rows where an h-step trade is decided: back-to-back, never overlapping.

    Without ``times``: rows 0, h, 2h, ... With ``times`` (the rows' open times): on clock time,
    the first row, then each first row opened at least h candle intervals after the previous
    decision, so a gap in the rows (missing candles, unlabelled rows) neither overlaps two
    holding periods nor counts the rows after it as if no time had passed. The candle interval
    is the smallest step between consecutive times.
    """
    if times is None:
        return np.arange(0, n_rows, horizon)
    stamps = pd.DatetimeIndex(np.asarray(times)).as_unit("ns").asi8
    if len(stamps) < 2:
        return np.arange(len(stamps))
    steps = np.diff(stamps)
    hold = horizon * int(steps[steps > 0].min()) if (steps > 0).any() else 0
    chosen, next_time = [], stamps[0]
    for position, stamp in enumerate(stamps):
        if stamp >= next_time:
            chosen.append(position)
            next_time = stamp + hold
    return np.asarray(chosen, dtype=np.int64)


def trade_returns(
    proba_up: ArrayLike,
    future_return: ArrayLike,
    *,
    fee_bps: float,
    mode: StrategyMode = "long_flat",
    horizon: int = 1,
    times: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Net returns of non-overlapping h-step trades, decided at :func:`trade_schedule` rows.

    Row t's ``future_return`` is close[t+h]/close[t] - 1, so deciding every h candles of clock
    time (``times`` given; else every ``horizon`` rows) gives back-to-back holding periods with
    no overlap (the last period may end after the block).
    Position is +1 when P(up) > 0.5, else 0 (``long_flat``) or -1 (``long_short``). Each change of
    position costs ``fee_bps`` per unit of change (a flip long->short costs twice), including the
    entry from flat and the final exit to flat.

    Returns:
        ``(positions, net_returns)``, one value per holding period.
    """
    if mode not in ("long_flat", "long_short"):
        raise MlpkgError(f"Unknown strategy mode {mode!r}; use 'long_flat' or 'long_short'.")
    if horizon < 1:
        raise MlpkgError(f"horizon must be >= 1, got {horizon}.")
    p, r = _pair(proba_up, future_return)
    decided = trade_schedule(len(p), horizon, times)
    p, r = p[decided], r[decided]
    short = 0.0 if mode == "long_flat" else -1.0
    positions = np.where(p > 0.5, 1.0, short)
    changes = np.abs(np.diff(positions, prepend=0.0))
    if len(positions):
        changes[-1] += abs(positions[-1])
    return positions, positions * r - changes * fee_bps / 1e4


def _trade_summary(positions: np.ndarray, net: np.ndarray, prefix: str) -> dict[str, float]:
    traded = positions != 0
    n_trades = int(traded.sum())
    return {
        f"{prefix}total_return": float(np.prod(1.0 + net) - 1.0),
        f"{prefix}mean_return_per_trade": float(net[traded].mean()) if n_trades else math.nan,
        f"{prefix}hit_rate": float((net[traded] > 0).mean()) if n_trades else math.nan,
        f"{prefix}n_trades": float(n_trades),
    }


# The parameters of trade_returns, repeated: it passes them on (for the strategy, then for
# buy-and-hold over the same periods), so callers call both alike.
def strategy_returns(
    proba_up: ArrayLike,
    future_return: ArrayLike,
    *,
    fee_bps: float,
    mode: StrategyMode = "long_flat",
    horizon: int = 1,
    times: ArrayLike | None = None,
) -> dict[str, float]:
    """Trade the predictions with non-overlapping h-step trades; compare with buy-and-hold.

    See :func:`trade_returns` for the schedule and costs. Buy-and-hold holds +1 over the same
    periods (one entry and one exit fee). ``total_return`` compounds the net period returns;
    a "trade" is a period with a non-zero position, and the hit rate is the share of those with
    a positive net return.

    Returns:
        ``total_return, mean_return_per_trade, hit_rate, n_trades`` and the same keys prefixed
        ``buy_hold_``, plus ``n_periods`` and ``exposure`` (share of periods in the market).
    """
    positions, net = trade_returns(
        proba_up, future_return, fee_bps=fee_bps, mode=mode, horizon=horizon, times=times
    )
    hold_positions, hold_net = trade_returns(
        np.ones(len(np.asarray(proba_up))),
        future_return,
        fee_bps=fee_bps,
        horizon=horizon,
        times=times,
    )
    result = _trade_summary(positions, net, "")
    result.update(_trade_summary(hold_positions, hold_net, "buy_hold_"))
    result["n_periods"] = float(len(positions))
    result["exposure"] = float((positions != 0).mean()) if len(positions) else math.nan
    return result
