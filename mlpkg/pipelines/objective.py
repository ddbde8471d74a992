"""The tuning objective: a family's mean log loss on the development folds, fold by fold.

A trial is scored exactly like ``mlpkg evaluate`` scores a family: the same dataset
(``build_dataset``), the same development folds (``mlpkg.pipelines.evaluate.development_split``:
walk-forward folds before the holdout and its purge gap), the same estimator (``family_spec``),
the same fit and score (``fit_and_score``), per fold the mean over seeds, then the mean over
folds. The holdout is never read: the rows handed to the estimators are cut at the end of the
development period, so nothing of the holdout period (feature rows or labels) reaches a trial.
The folds come one at a time, so a scheduler can stop a hopeless trial after any fold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpkg.config import RunConfig
from mlpkg.evaluation.metrics import log_losses
from mlpkg.evaluation.splits import Fold, HoldoutSplit
from mlpkg.evaluation.walk_forward import fit_and_score
from mlpkg.pipelines.dataset import build_dataset
from mlpkg.pipelines.evaluate import development_split, family_spec, seeds_of


@dataclass(frozen=True)
class DevelopmentRows:
    """The rows a trial may read: everything before the end of the development period.

    Attributes:
        X: Feature rows ``[0, split.dev_end)`` (the holdout and its purge gap are cut off).
        y: Their labels (NaN on context-only rows).
        folds: The development folds (every row position lies below ``split.dev_end``).
        split: Where the development period ends and the holdout starts (positions only).
    """

    X: pd.DataFrame
    y: pd.Series
    folds: list[Fold]
    split: HoldoutSplit


@dataclass(frozen=True)
class HoldoutPlan:
    """The holdout a tune respects, shared by every trial.

    Attributes:
        start: The pair's holdout start (its ledger entry, or where the first training run
            would place it).
        window: The widest window any trial may use (the search space's upper bound): every
            trial's development rows end at ``start`` minus the same purge ``h + window``.
    """

    start: pd.Timestamp
    window: int


@dataclass(frozen=True)
class FoldScore:
    """A trial's log loss on one development fold (mean over seeds) and the running mean."""

    fold: int
    log_loss: float
    running_mean: float
    done: int
    of: int

    @property
    def final(self) -> bool:
        """Whether this was the last fold (``running_mean`` is then the objective)."""
        return self.done == self.of


def trial_config(base: RunConfig, family: str, params: Mapping[str, Any]) -> RunConfig:
    """The run config of a trial: the base config, only ``family`` in ``models``, the params.

    Raises:
        ConfigError: if a parameter is unknown or invalid.
    """
    flat = {**base.to_flat(), "models": (family,), **params}
    return RunConfig.from_flat(**flat)


def development_rows(
    candles: pd.DataFrame, config: RunConfig, plan: HoldoutPlan | None = None
) -> DevelopmentRows:
    """Build the dataset of ``config`` and keep only the development period (no holdout row).

    Args:
        candles: The pair's candles (``max_rows``/``data_end`` of ``config`` are applied).
        config: The trial's run config.
        plan: The holdout the tune respects (None: placed from the candle times, purged by
            ``config``'s own widest window).

    Raises:
        ConfigError: when the candles are too few for the holdout or the folds.
    """
    dataset = build_dataset(candles, config)
    if plan is None:
        split, folds = development_split(dataset, config)
    else:
        split, folds = development_split(
            dataset, config, plan.start, window=plan.window, require_holdout=False
        )
    end = split.dev_end
    return DevelopmentRows(dataset.X.iloc[:end], dataset.y.iloc[:end], folds, split)


def fold_scores(family: str, config: RunConfig, rows: DevelopmentRows) -> Iterator[FoldScore]:
    """Fit the family on each development fold in turn and yield its log loss there.

    The log loss of a fold is the mean over the config's seeds (one fit for an unseeded
    family); the running mean over the folds so far ends at the objective, the value
    ``mlpkg evaluate`` reports as the family's mean development log loss.
    """
    spec = family_spec(family, config)
    seeds = seeds_of(config) if spec.seeded else seeds_of(config)[:1]
    losses: list[float] = []
    for fold in rows.folds:
        per_seed = []
        for seed in seeds:
            result = fit_and_score(
                spec,
                seed,
                rows.X,
                rows.y,
                (fold.train_start, fold.train_end),
                (fold.test_start, fold.test_end),
                family,
            )
            truth = rows.y.to_numpy(dtype=np.float64)[result.positions]
            per_seed.append(float(log_losses(truth, result.p_up).mean()))
        losses.append(float(np.mean(per_seed)))
        yield FoldScore(
            fold.index, losses[-1], float(np.mean(losses)), len(losses), len(rows.folds)
        )
