"""Reports of the two periods, never mixed: development folds, and the holdout scored once.

* :class:`DevelopmentReport` — every candidate (families, ensembles) and every reference
  (naive baselines, logistic) on the same development folds: mean across folds, spread across
  folds and across seeds, the selected candidate and informative DM tests.
* :class:`HoldoutReport` — the selected candidate and the references refit on the development
  period and scored on the holdout: metrics, per-block log loss, how many candidates this
  holdout has now scored, and the promotion decision with each condition checked.

MLflow keys start with ``dev_`` or ``holdout_`` (:func:`flat_metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.metrics import (
    classification_metrics,
    confidence_buckets,
    log_losses,
    strategy_returns,
)
from mlpkg.evaluation.promotion import PromotionDecision, best_naive, holdout_dm, spent_alpha
from mlpkg.evaluation.selection import Selection
from mlpkg.evaluation.significance import DieboldMarianoResult
from mlpkg.models.baselines import NAIVE_BASELINES, REFERENCE_BASELINE

TABLE_METRICS = (
    ("accuracy", "accuracy"),
    ("log_loss", "log_loss"),
    ("brier", "brier"),
    ("roc_auc", "roc_auc"),
    ("strategy_return", "long_flat_ret"),
)
PER_FOLD_LOGGED = ("log_loss", "accuracy")


def period_metrics(rows: pd.DataFrame, *, fee_bps: float, horizon: int) -> dict[str, float]:
    """Classification and trading metrics of one model on one block of rows (time-ordered).

    ``strategy_return`` is the long/flat strategy (long when P(up) > 0.5, else flat), and
    ``long_short_return`` the long/short one, both net of ``fee_bps`` per unit of position
    change with non-overlapping h-step trades (see ``mlpkg.evaluation.metrics.trade_returns``).
    """
    p, y, r = rows["proba_up"], rows["y_true"], rows["future_return"]
    times = rows["open_time"]
    metrics = classification_metrics(y, p)
    flat = strategy_returns(p, r, fee_bps=fee_bps, mode="long_flat", horizon=horizon, times=times)
    both = strategy_returns(p, r, fee_bps=fee_bps, mode="long_short", horizon=horizon, times=times)
    metrics.update(
        {
            "strategy_return": flat["total_return"],
            "strategy_hit_rate": flat["hit_rate"],
            "long_short_return": both["total_return"],
            "buy_hold_return": flat["buy_hold_total_return"],
        }
    )
    return metrics


def _per_fit(predictions: pd.DataFrame, fee_bps: float, horizon: int) -> pd.DataFrame:
    rows = {
        (int(seed), int(fold), str(model)): period_metrics(
            group.sort_values("open_time"), fee_bps=fee_bps, horizon=horizon
        )
        for (seed, fold, model), group in predictions.groupby(["seed", "fold", "model"])
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(list(rows), names=["seed", "fold", "model"])
    return frame


def _summary(per_fit: pd.DataFrame) -> pd.DataFrame:
    """Mean, fold spread (of seed-averaged fold metrics) and seed spread (of fold means)."""
    per_fold = per_fit.groupby(level=["fold", "model"]).mean()
    fold_stats = per_fold.groupby(level="model").agg(["mean", "std"])
    fold_stats.columns = [f"{metric}_{stat}" for metric, stat in fold_stats.columns]
    seed_means = per_fit.groupby(level=["seed", "model"]).mean()
    seed_std = seed_means.groupby(level="model").std()
    seed_std.columns = [f"{metric}_seed_std" for metric in seed_std.columns]
    return fold_stats.join(seed_std)


@dataclass(frozen=True, eq=False)
class DevelopmentReport:
    """Development-fold results of every candidate beside the references.

    Attributes:
        per_fold: Metrics per (fold, model), averaged over seeds.
        summary: One row per model: ``<metric>_mean``, ``<metric>_std`` (across folds) and
            ``<metric>_seed_std`` (across seeds; NaN with one seed). Candidates first, by score.
        roles: ``candidate``, ``reference`` or ``candidate, reference`` per model.
        selection: The chosen candidate and every candidate's score.
        significance: Informative one-sided DM tests of the chosen candidate against the best
            naive baseline and against logistic, on the base seed's fold predictions.
        buckets: Accuracy by confidence bucket of the chosen candidate (base seed).
        horizon, fee_bps, n_folds, n_seeds: The protocol's settings.
    """

    per_fold: pd.DataFrame
    summary: pd.DataFrame
    roles: dict[str, str]
    selection: Selection
    significance: dict[str, DieboldMarianoResult]
    buckets: pd.DataFrame
    horizon: int
    fee_bps: float
    n_folds: int
    n_seeds: int


def _roles(candidates: Sequence[str], references: Sequence[str]) -> dict[str, str]:
    roles = {name: "candidate" for name in candidates}
    for name in references:
        roles[name] = "candidate, reference" if name in roles else "reference"
    return roles


def _dev_tests(
    predictions: pd.DataFrame, chosen: str, horizon: int, base_seed: int
) -> dict[str, DieboldMarianoResult]:
    base = predictions[predictions["seed"] == base_seed].sort_values(["fold", "open_time"])
    tests = {}
    baseline = best_naive(base, NAIVE_BASELINES)
    for other in dict.fromkeys((baseline, REFERENCE_BASELINE)):
        if other != chosen and other in set(base["model"]):
            tests[other] = holdout_dm(base, chosen, other, horizon)
    return tests


def summarize_development(
    predictions: pd.DataFrame,
    selection: Selection,
    *,
    candidates: Sequence[str],
    fee_bps: float,
    horizon: int,
    base_seed: int,
) -> DevelopmentReport:
    """Summarise development-fold predictions of the candidates and the references.

    Raises:
        MlpkgError: if a candidate or a naive baseline has no predictions.
    """
    names = set(predictions["model"])
    missing = [n for n in (*candidates, *NAIVE_BASELINES) if n not in names]
    if missing:
        raise MlpkgError(f"No development predictions of {missing}; models present: {names}.")
    references = [n for n in (*NAIVE_BASELINES, REFERENCE_BASELINE) if n in names]
    per_fit = _per_fit(predictions, fee_bps, horizon)
    summary = _summary(per_fit)
    ordered = sorted(candidates, key=lambda n: selection.scores[n])
    summary = summary.loc[[*ordered, *(r for r in references if r not in ordered)]]
    chosen_rows = predictions[
        (predictions["model"] == selection.chosen) & (predictions["seed"] == base_seed)
    ]
    return DevelopmentReport(
        per_fold=per_fit.groupby(level=["fold", "model"]).mean(),
        summary=summary,
        roles=_roles(candidates, references),
        selection=selection,
        significance=_dev_tests(predictions, selection.chosen, horizon, base_seed),
        buckets=confidence_buckets(chosen_rows["y_true"], chosen_rows["proba_up"]),
        horizon=horizon,
        fee_bps=fee_bps,
        n_folds=int(predictions["fold"].nunique()),
        n_seeds=int(predictions["seed"].nunique()),
    )


@dataclass(frozen=True, eq=False)
class HoldoutReport:
    """The holdout, scored once by the selected candidate (beside the references).

    Attributes:
        candidate: The selected candidate.
        metrics: One row per model (candidate, references, the re-scored champion if any).
        blocks: Log loss per (block, model).
        decision: The promotion rule's decision, each condition with its numbers.
        uses: k: how many candidates have now scored rows of this holdout, counted by time
            overlap (this one included).
        alpha: alpha_k, the DM level this use was held to (``promotion.spent_alpha``).
        baseline: The naive reference, chosen on the development folds.
        start, end: Open times of the first and last holdout rows; ``rows`` labelled rows.
        significance: One-sided DM of the candidate vs the best naive baseline and vs logistic.
        buckets: Accuracy by confidence bucket of the candidate on the holdout.
    """

    candidate: str
    metrics: pd.DataFrame
    blocks: pd.DataFrame
    decision: PromotionDecision
    uses: int
    alpha: float
    baseline: str
    start: pd.Timestamp
    end: pd.Timestamp
    rows: int
    significance: dict[str, DieboldMarianoResult]
    buckets: pd.DataFrame
    horizon: int
    extra: dict[str, Any] = field(default_factory=dict)


def summarize_holdout(
    holdout: pd.DataFrame,
    candidate: str,
    decision: PromotionDecision,
    *,
    uses: int,
    baseline: str,
    fee_bps: float,
    horizon: int,
) -> HoldoutReport:
    """Summarise holdout predictions of the candidate and the references (decision taken).

    ``holdout`` has the columns ``model, open_time, y_true, proba_up, future_return, block``;
    ``baseline`` is the naive reference chosen on the development folds.
    """
    metrics = {
        str(model): period_metrics(group.sort_values("open_time"), fee_bps=fee_bps, horizon=horizon)
        for model, group in holdout.groupby("model")
    }
    order = [candidate, *(m for m in metrics if m != candidate)]
    losses = holdout.assign(loss=log_losses(holdout["y_true"], holdout["proba_up"]))
    blocks = losses.pivot_table(index="block", columns="model", values="loss", aggfunc="mean")
    tests = {}
    for other in dict.fromkeys((baseline, REFERENCE_BASELINE)):
        if other != candidate and other in metrics:
            tests[other] = holdout_dm(holdout, candidate, other, horizon)
    rows = holdout[holdout["model"] == candidate]
    return HoldoutReport(
        candidate=candidate,
        metrics=pd.DataFrame.from_dict(metrics, orient="index").loc[order],
        blocks=blocks,
        decision=decision,
        uses=uses,
        alpha=spent_alpha(uses),
        baseline=baseline,
        start=pd.Timestamp(rows["open_time"].min()),
        end=pd.Timestamp(rows["open_time"].max()),
        rows=len(rows),
        significance=tests,
        buckets=confidence_buckets(rows["y_true"], rows["proba_up"]),
        horizon=horizon,
    )


def _cell(mean: float, std: float, seed_std: float = math.nan) -> str:
    if math.isnan(mean):
        return "nan"
    text = f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f}±{std:.4f}"
    return text if math.isnan(seed_std) else f"{text}/{seed_std:.4f}"


def _buckets_line(name: str, buckets: pd.DataFrame) -> str:
    cells = [
        f"{row.bucket}: {row.accuracy:.3f} (n={row.count})"
        for row in buckets.itertuples()
        if row.count
    ]
    return f"  {name} accuracy by confidence |p-0.5|*2: " + ", ".join(cells)


def _dm_line(name: str, other: str, test: DieboldMarianoResult) -> str:
    return (
        f"  DM {name} vs {other} (one-sided, HLN, {test.kernel} kernel, lags "
        f"0..{test.horizon - 1}): stat={test.stat:.3f}, p={test.p_value:.3g}, "
        f"mean diff {test.mean_diff:+.5f}, n={test.n}"
    )


def format_development(report: DevelopmentReport) -> str:
    """Fixed-width text of the development period (mean ± fold std / seed std)."""
    width = max(14, *(len(str(m)) + 8 for m in report.summary.index))
    header = "model".ljust(width) + "".join(label.rjust(24) for _, label in TABLE_METRICS)
    lines = [
        f"DEVELOPMENT: {report.n_folds} walk-forward folds x {report.n_seeds} seed(s), horizon "
        f"{report.horizon}, fee {report.fee_bps:g} bp; mean ± std across folds / std across seeds",
        header,
        "-" * len(header),
    ]
    for name, row in report.summary.iterrows():
        marker = "*" if name == report.selection.chosen else " "
        role = " (ref)" if report.roles.get(str(name)) == "reference" else ""
        cells = "".join(
            _cell(row[f"{m}_mean"], row[f"{m}_std"], row.get(f"{m}_seed_std", math.nan)).rjust(24)
            for m, _ in TABLE_METRICS
        )
        lines.append(f"{marker}{name}{role}".ljust(width) + cells)
    lines.append(
        f"Selected on the development folds (lowest mean log loss): {report.selection.chosen}"
    )
    lines += [_dm_line(report.selection.chosen, o, t) for o, t in report.significance.items()]
    lines.append(_buckets_line(report.selection.chosen, report.buckets))
    return "\n".join(lines)


def format_holdout(report: HoldoutReport) -> str:
    """Fixed-width text of the holdout: metrics, blocks, budget, decision with conditions."""
    lines = [
        f"HOLDOUT (scored once): {report.rows} rows, {report.start:%Y-%m-%d %H:%M} .. "
        f"{report.end:%Y-%m-%d %H:%M} UTC; candidates that scored rows of this holdout: "
        f"{report.uses} (this one included, counted by time overlap), so the DM level is "
        f"alpha_{report.uses} = {report.alpha:.3g}; naive reference (chosen on development): "
        f"{report.baseline}",
        "model".ljust(16) + "".join(label.rjust(16) for _, label in TABLE_METRICS),
    ]
    for name, row in report.metrics.iterrows():
        marker = "*" if name == report.candidate else " "
        cells = "".join(f"{row[m]:.4f}".rjust(16) for m, _ in TABLE_METRICS)
        lines.append(f"{marker}{name}".ljust(16) + cells)
    blocks = ", ".join(
        f"{int(b)}: {row[report.candidate]:.4f}" for b, row in report.blocks.iterrows()
    )
    lines.append(f"{report.candidate} log loss per holdout block: {blocks}")
    lines += [_dm_line(report.candidate, o, t) for o, t in report.significance.items()]
    lines.append(_buckets_line(report.candidate, report.buckets))
    lines.append(f"Promotion: {'PROMOTED' if report.decision.promote else 'not promoted'}")
    lines += [f"  {line}" for line in report.decision.lines()]
    return "\n".join(lines)


def _finite(values: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        number = float(value)
        if not np.isinf(number):
            out[key] = number
    return out


def flat_development_metrics(report: DevelopmentReport) -> dict[str, float]:
    """MLflow metrics of the development period, every key prefixed ``dev_``."""
    flat: dict[str, Any] = {}
    for name, row in report.summary.iterrows():
        flat.update({f"dev_{name}_{column}": value for column, value in row.items()})
    for (fold, name), row in report.per_fold.iterrows():
        flat.update({f"dev_fold{fold}_{name}_{m}": row[m] for m in PER_FOLD_LOGGED})
    for other, test in report.significance.items():
        flat.update({f"dev_dm_vs_{other}_stat": test.stat, f"dev_dm_vs_{other}_p": test.p_value})
    flat["dev_selected_log_loss"] = report.selection.scores[report.selection.chosen]
    return _finite(flat)


def flat_holdout_metrics(report: HoldoutReport) -> dict[str, float]:
    """MLflow metrics of the holdout, every key prefixed ``holdout_``."""
    flat: dict[str, Any] = {}
    for name, row in report.metrics.iterrows():
        flat.update({f"holdout_{name}_{column}": value for column, value in row.items()})
    for block, row in report.blocks.iterrows():
        flat.update({f"holdout_block{int(block)}_{m}_log_loss": v for m, v in row.items()})
    for other, test in report.significance.items():
        flat.update(
            {f"holdout_dm_vs_{other}_stat": test.stat, f"holdout_dm_vs_{other}_p": test.p_value}
        )
    flat["holdout_uses"] = report.uses
    flat["holdout_alpha"] = report.alpha
    flat["holdout_promoted"] = float(report.decision.promote)
    return _finite(flat)
