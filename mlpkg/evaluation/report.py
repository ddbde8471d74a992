"""Summarise walk-forward predictions: per-fold metrics, mean ± std, DM test and a verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.metrics import (
    classification_metrics,
    diebold_mariano,
    log_losses,
    strategy_returns,
)

SIGNIFICANCE_LEVEL = 0.05
TABLE_METRICS = (
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "bal_acc"),
    ("log_loss", "log_loss"),
    ("brier", "brier"),
    ("roc_auc", "roc_auc"),
    ("strategy_return", "strat_ret"),
)


@dataclass(frozen=True, eq=False)
class WalkForwardReport:
    """Walk-forward results of one model beside its baselines.

    Attributes:
        per_fold: One row per (fold, model), one column per metric.
        summary: One row per model (the model first, then baselines by mean log loss);
            columns ``<metric>_mean`` and ``<metric>_std`` across folds (std NaN with one fold).
        significance: DM test of the model vs the best baseline on per-sample log loss
            (``model, baseline, stat, p_value, mean_diff, n``); empty without baselines.
        best_baseline: The baseline with the lowest mean log loss ("" if none).
        model: Name of the model under test.
        verdict: One honest sentence on whether the model beats the best baseline.
        horizon: Label horizon h.
        fee_bps: Trading cost per unit of position change, in bp.
        n_folds: Number of folds.
    """

    per_fold: pd.DataFrame
    summary: pd.DataFrame
    significance: dict[str, Any]
    best_baseline: str
    model: str
    verdict: str
    horizon: int
    fee_bps: float
    n_folds: int


def _group_metrics(group: pd.DataFrame, fee_bps: float, horizon: int) -> dict[str, float]:
    p, y, r = group["proba_up"], group["y_true"], group["future_return"]
    metrics = classification_metrics(y, p)
    flat = strategy_returns(p, r, fee_bps=fee_bps, mode="long_flat", horizon=horizon)
    both = strategy_returns(p, r, fee_bps=fee_bps, mode="long_short", horizon=horizon)
    metrics.update({
        "strategy_return": flat["total_return"],
        "strategy_hit_rate": flat["hit_rate"],
        "strategy_n_trades": flat["n_trades"],
        "long_short_return": both["total_return"],
        "buy_hold_return": flat["buy_hold_total_return"],
    })  # fmt: skip
    return metrics


def per_fold_metrics(predictions: pd.DataFrame, *, fee_bps: float, horizon: int) -> pd.DataFrame:
    """Return metrics per (fold, model) of a walk-forward prediction frame."""
    rows = {
        (int(fold), str(name)): _group_metrics(group.sort_values("open_time"), fee_bps, horizon)
        for (fold, name), group in predictions.groupby(["fold", "model"], sort=True)
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(list(rows), names=["fold", "model"])
    return frame


def _significance(
    predictions: pd.DataFrame, model: str, baseline: str, horizon: int
) -> dict[str, Any]:
    keys = ["fold", "open_time"]
    a = predictions[predictions["model"] == model].sort_values(keys)
    b = predictions[predictions["model"] == baseline].sort_values(keys)
    if not (a[keys].to_numpy() == b[keys].to_numpy()).all():
        raise MlpkgError(f"Models {model!r} and {baseline!r} scored different rows.")
    loss_a = log_losses(a["y_true"], a["proba_up"])
    loss_b = log_losses(b["y_true"], b["proba_up"])
    test = diebold_mariano(loss_a, loss_b, horizon)
    return {"model": model, "baseline": baseline, "metric": "log_loss", **test}


def _verdict(significance: dict[str, Any]) -> str:
    if not significance:
        return "no baseline was evaluated: the model cannot be judged"
    model, baseline = significance["model"], significance["baseline"]
    stat, p = significance["stat"], significance["p_value"]
    detail = f"mean diff {significance['mean_diff']:+.4f}, DM p={p:.3g}"
    if p < SIGNIFICANCE_LEVEL and stat < 0:
        return f"{model} beats the best baseline ({baseline}) on log loss: {detail}"
    if p < SIGNIFICANCE_LEVEL and stat > 0:
        return (
            f"{model} is significantly WORSE than the best baseline ({baseline}) on log loss: "
            f"{detail}"
        )
    return f"{model} does NOT beat the best baseline ({baseline}) on log loss: {detail}"


def summarize(
    predictions: pd.DataFrame, *, fee_bps: float, horizon: int, model: str = "lstm"
) -> WalkForwardReport:
    """Summarise walk-forward predictions of ``model`` and its baselines.

    Args:
        predictions: Output of :func:`mlpkg.evaluation.walk_forward.run_walk_forward`.
        fee_bps: Trading cost per unit of position change, in bp.
        horizon: Label horizon h (trade spacing and DM HAC lag h - 1).
        model: The model under test; every other model name is a baseline.

    Raises:
        MlpkgError: if ``model`` has no predictions.
    """
    names = [str(n) for n in predictions["model"].unique()]
    if model not in names:
        raise MlpkgError(f"No predictions of model {model!r}; models present: {names}.")
    per_fold = per_fold_metrics(predictions, fee_bps=fee_bps, horizon=horizon)
    summary = per_fold.groupby(level="model").agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    baselines = sorted(
        (n for n in names if n != model), key=lambda n: summary.loc[n, "log_loss_mean"]
    )
    summary = summary.loc[[model, *baselines]]
    best = baselines[0] if baselines else ""
    significance = _significance(predictions, model, best, horizon) if best else {}
    return WalkForwardReport(
        per_fold=per_fold,
        summary=summary,
        significance=significance,
        best_baseline=best,
        model=model,
        verdict=_verdict(significance),
        horizon=horizon,
        fee_bps=fee_bps,
        n_folds=int(per_fold.index.get_level_values("fold").nunique()),
    )


def _cell(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "nan"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f}±{std:.4f}"


def format_report(report: WalkForwardReport) -> str:
    """Return a fixed-width text table (mean ± std across folds), the DM test and the verdict."""
    width = max(12, *(len(str(m)) + 2 for m in report.summary.index))
    header = "model".ljust(width) + "".join(label.rjust(17) for _, label in TABLE_METRICS)
    lines = [
        f"Walk-forward: {report.n_folds} folds, horizon {report.horizon}, "
        f"fee {report.fee_bps:g} bp; mean ± std across folds",
        header,
        "-" * len(header),
    ]
    for name, row in report.summary.iterrows():
        marker = "*" if name == report.model else " "
        cells = "".join(
            _cell(row[f"{metric}_mean"], row[f"{metric}_std"]).rjust(17)
            for metric, _ in TABLE_METRICS
        )
        lines.append(f"{marker}{name}".ljust(width) + cells)
    hold = report.summary["buy_hold_return_mean"].iloc[0]
    lines.append(f"buy & hold return over the test blocks (mean per fold): {hold:+.4f}")
    sig = report.significance
    if sig:
        lines.append(
            f"Diebold-Mariano on per-sample log loss, {sig['model']} vs {sig['baseline']} "
            f"(Newey-West lag {max(report.horizon - 1, 0)}): stat={sig['stat']:.3f}, "
            f"p={sig['p_value']:.3g}, n={int(sig['n'])}"
        )
    lines.append(f"Verdict: {report.verdict}")
    return "\n".join(lines)


def flat_metrics(report: WalkForwardReport) -> dict[str, float]:
    """Flatten a report into MLflow metrics.

    Keys: ``<model>_<metric>_mean``/``_std``, ``fold<k>_<model>_<metric>``, ``dm_stat``,
    ``dm_p_value``, ``dm_mean_diff`` and ``beats_best_baseline`` (1.0/0.0). NaN values are kept
    (e.g. the std of a single fold); infinite values are dropped.
    """
    flat: dict[str, float] = {}
    for name, row in report.summary.iterrows():
        for column, value in row.items():
            flat[f"{name}_{column}"] = float(value)
    for (fold, name), row in report.per_fold.iterrows():
        for metric, value in row.items():
            flat[f"fold{fold}_{name}_{metric}"] = float(value)
    if report.significance:
        for key in ("stat", "p_value", "mean_diff"):
            flat[f"dm_{key}"] = float(report.significance[key])
        flat["beats_best_baseline"] = float(
            report.significance["p_value"] < SIGNIFICANCE_LEVEL and report.significance["stat"] < 0
        )
    return {k: v for k, v in flat.items() if not np.isinf(v)}
