"""Evaluation plots, each returned as a new ``matplotlib.figure.Figure``.

No pyplot state and nothing saved: display the figure in a notebook or log it with the
tracking layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.metrics import StrategyMode, trade_returns, trade_schedule


def _model_rows(predictions: pd.DataFrame, model: str) -> pd.DataFrame:
    rows = predictions[predictions["model"] == model]
    if rows.empty:
        names = sorted(str(n) for n in predictions["model"].unique())
        raise MlpkgError(f"No predictions of model {model!r}; models present: {names}.")
    return rows.sort_values(["fold", "open_time"])


def plot_reliability(predictions: pd.DataFrame, model: str, *, n_bins: int = 10) -> Figure:
    """Reliability diagram: observed up-frequency vs mean P(up) in equal-count bins.

    Equal-count (quantile) bins from ``sklearn.calibration.calibration_curve`` suit models whose
    probabilities crowd around 0.5. The lower panel is the histogram of P(up).
    """
    from sklearn.calibration import calibration_curve

    rows = _model_rows(predictions, model)
    p = rows["proba_up"].to_numpy(dtype=np.float64)
    y = rows["y_true"].to_numpy(dtype=np.float64)
    observed, mean_p = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    fig = Figure(figsize=(6, 6))
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    low, high = min(p.min(), y.mean(), 0.4), max(p.max(), y.mean(), 0.6)
    top.plot([low, high], [low, high], linestyle="--", color="grey", label="perfect calibration")
    top.plot(mean_p, observed, marker="o", label=model)
    top.set_ylabel("observed up frequency")
    top.set_title(f"Reliability of {model} ({len(p)} test rows)")
    top.legend()
    bottom.hist(p, bins=30)
    bottom.set_xlabel("predicted P(up)")
    bottom.set_ylabel("rows")
    return fig


def plot_confusion(predictions: pd.DataFrame, model: str) -> Figure:
    """Confusion matrix of the decisions (up when P(up) > 0.5) with counts and row shares."""
    rows = _model_rows(predictions, model)
    pred = (rows["proba_up"].to_numpy() > 0.5).astype(int)
    true = rows["y_true"].to_numpy().astype(int)
    counts = confusion_matrix(true, pred, labels=[0, 1])
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(4.5, 4))
    ax = fig.subplots()
    display = ConfusionMatrixDisplay(shares, display_labels=["down", "up"])
    display.plot(ax=ax, cmap="Blues", colorbar=False, values_format=".0%")
    display.im_.set_clim(0.0, 1.0)
    for (i, j), text in np.ndenumerate(display.text_):  # counts beside the row shares
        text.set_text(f"{counts[i, j]}\n{shares[i, j]:.0%}")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion of {model}")
    return fig


def _equity(
    rows: pd.DataFrame, fee_bps: float, horizon: int, mode: StrategyMode, hold: bool = False
) -> pd.Series:
    parts = []
    for _, fold in rows.groupby("fold", sort=True):
        p = np.ones(len(fold)) if hold else fold["proba_up"].to_numpy()
        times = fold["open_time"].to_numpy()
        _, net = trade_returns(
            p, fold["future_return"], fee_bps=fee_bps, mode=mode, horizon=horizon, times=times
        )
        parts.append(pd.Series(net, index=times[trade_schedule(len(fold), horizon, times)]))
    returns = pd.concat(parts)
    return (1.0 + returns).cumprod()


def plot_equity(
    predictions: pd.DataFrame,
    fee_bps: float,
    horizon: int,
    *,
    mode: StrategyMode = "long_flat",
) -> Figure:
    """Equity curves of every model's strategy and of buy-and-hold over the test blocks.

    Trades are non-overlapping h-step holds (see :func:`mlpkg.evaluation.metrics.trade_returns`),
    net of fees, compounded across folds in time order.
    """
    models = sorted(str(n) for n in predictions["model"].unique())
    if not models:
        raise MlpkgError("No predictions to plot.")
    fig = Figure(figsize=(9, 4.5))
    ax = fig.subplots()
    for name in models:
        curve = _equity(_model_rows(predictions, name), fee_bps, horizon, mode)
        ax.plot(curve.index, curve.to_numpy(), label=name)
    hold = _equity(_model_rows(predictions, models[0]), fee_bps, horizon, mode, hold=True)
    ax.plot(hold.index, hold.to_numpy(), color="black", linestyle="--", label="buy & hold")
    ax.axhline(1.0, color="grey", linewidth=0.5)
    ax.set_ylabel("equity (start = 1)")
    ax.set_title(f"{mode} strategy, {horizon}-step trades, fee {fee_bps:g} bp")
    ax.legend()
    fig.autofmt_xdate()
    return fig


def plot_training_curves(history: Mapping[str, Sequence[float]]) -> Figure:
    """Loss and accuracy per epoch (training and validation), best validation epoch marked."""
    if "loss" not in history:
        raise MlpkgError(f"history has no 'loss' key (keys: {sorted(history)}).")
    fig = Figure(figsize=(9, 3.5))
    axes = fig.subplots(1, 2)
    best = int(np.argmin(history["val_loss"])) + 1 if history.get("val_loss") else None
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key in (metric, f"val_{metric}"):
            values = list(history.get(key, []))
            if values:
                ax.plot(range(1, len(values) + 1), values, marker=".", label=key)
        if best is not None:
            ax.axvline(best, color="grey", linestyle=":", label=f"best epoch {best}")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    return fig


def plot_importance(importance: pd.DataFrame, *, top: int = 20) -> Figure:
    """Horizontal bars of permutation importance (increase in log loss), one bar per family.

    Args:
        importance: Features (rows) x families (columns), e.g. from the development run.
        top: How many features to show (largest increase in any family first).
    """
    if importance.empty:
        raise MlpkgError("No permutation importance to plot (importance_rows=0?).")
    shown = importance.loc[importance.max(axis=1).sort_values(ascending=False).index[:top]]
    fig = Figure(figsize=(8, 0.3 * len(shown) + 1.5))
    ax = fig.subplots()
    height = 0.8 / len(shown.columns)
    positions = np.arange(len(shown))
    for i, family in enumerate(shown.columns):
        ax.barh(positions + i * height, shown[family].to_numpy(), height, label=str(family))
    ax.set_yticks(positions + 0.4 - height / 2, labels=[str(n) for n in shown.index])
    ax.invert_yaxis()
    ax.axvline(0.0, color="grey", linewidth=0.5)
    ax.set_xlabel("increase in log loss when shuffled (nats)")
    ax.set_title("Permutation importance, last development fold")
    ax.legend()
    return fig


def plot_model_comparison(summary: pd.DataFrame, metric: str = "log_loss") -> Figure:
    """Mean development metric per model with its fold spread (bars) and seed spread (caps).

    Args:
        summary: The development summary (``<metric>_mean``, ``_std``, ``_seed_std`` columns).
        metric: Which metric to show (lower is better for log loss and Brier).
    """
    if summary.empty or f"{metric}_mean" not in summary.columns:
        raise MlpkgError(f"The summary has no {metric}_mean column to plot.")
    ordered = summary.sort_values(f"{metric}_mean")
    names = [str(n) for n in ordered.index]
    positions = np.arange(len(names))
    fig = Figure(figsize=(8, 0.35 * len(names) + 1.5))
    ax = fig.subplots()
    fold_std = ordered[f"{metric}_std"].fillna(0.0).to_numpy()
    ax.barh(
        positions,
        ordered[f"{metric}_mean"].to_numpy(),
        xerr=fold_std,
        color="tab:blue",
        alpha=0.6,
        label="mean ± std across folds",
    )
    seed_std = ordered.get(f"{metric}_seed_std")
    if seed_std is not None and seed_std.fillna(0.0).gt(0).any():
        ax.errorbar(
            ordered[f"{metric}_mean"],
            positions,
            xerr=seed_std.fillna(0.0),
            fmt="none",
            ecolor="black",
            capsize=4,
            label="± std across seeds",
        )
    ax.set_yticks(positions, labels=names)
    ax.invert_yaxis()
    low = float((ordered[f"{metric}_mean"] - fold_std).min())
    high = float((ordered[f"{metric}_mean"] + fold_std).max())
    ax.set_xlim(low - 0.1 * (high - low + 1e-9), high + 0.1 * (high - low + 1e-9))
    ax.set_xlabel(f"development {metric} (lower is better)")
    ax.set_title("Families, ensembles and references on the same development folds")
    ax.legend()
    return fig


def plot_reliability_curves(
    predictions: pd.DataFrame, models: Sequence[str], *, n_bins: int = 10
) -> Figure:
    """Reliability curves of several models on one axis (equal-count bins, sklearn)."""
    from sklearn.calibration import calibration_curve

    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    lows, highs = [0.4], [0.6]
    for model in models:
        rows = _model_rows(predictions, model)
        observed, mean_p = calibration_curve(
            rows["y_true"], rows["proba_up"], n_bins=n_bins, strategy="quantile"
        )
        ax.plot(mean_p, observed, marker="o", label=model)
        lows.append(float(min(mean_p.min(), observed.min())))
        highs.append(float(max(mean_p.max(), observed.max())))
    ax.plot(
        [min(lows), max(highs)],
        [min(lows), max(highs)],
        linestyle="--",
        color="grey",
        label="perfect calibration",
    )
    ax.set_xlabel("predicted P(up)")
    ax.set_ylabel("observed up frequency")
    ax.set_title("Reliability on the development folds")
    ax.legend()
    return fig


def plot_backtest(frame: pd.DataFrame, title: str) -> Figure:
    """Equity (top) and drawdown (bottom) of the policy, buy-and-hold and always-flat.

    Args:
        frame: ``Backtest.frame`` (``mlpkg.evaluation.backtest``): per candle, each strategy's
            ``<name>_equity`` and ``<name>_drawdown``.
        title: The figure's title (what was backtested, with the costs).
    """
    if frame.empty:
        raise MlpkgError("No candles to plot.")
    fig = Figure(figsize=(9, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    styles = {"policy": "-", "buy_hold": "--", "flat": ":"}
    for name, style in styles.items():
        top.plot(frame.index, frame[f"{name}_equity"], linestyle=style, label=name)
        bottom.plot(frame.index, frame[f"{name}_drawdown"], linestyle=style, label=name)
    top.axhline(1.0, color="grey", linewidth=0.5)
    top.set_ylabel("equity (start = 1)")
    top.set_title(title)
    top.legend()
    bottom.set_ylabel("drawdown")
    fig.autofmt_xdate()
    return fig
