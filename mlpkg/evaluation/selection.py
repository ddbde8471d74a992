"""Choose a candidate on the development folds only: ensembles, scores, training budgets.

Everything here reads development-fold (out-of-fold) predictions and nothing else:

* ``weighted`` combines the neural members with the replaced service's fixed weights.
* ``stacked`` combines every family in ``models`` with convex weights fitted on out-of-fold
  predictions. To score the ensemble itself out of sample, fold k uses weights fitted on
  folds ``0 .. k-1`` only, minus their rows within the purge (``h + window`` candles) of fold
  k's first row, whose labels read fold k's prices (equal weights on fold 0, which has no
  earlier folds); the weights kept for the holdout and the deployed model are fitted on every
  development fold. The per-fold weights reported are the base seed's.
* The candidate is the family or ensemble with the lowest mean development log loss (mean over
  seeds of the mean over folds). Ties go to the earlier name in ``mlpkg.config.CANDIDATES``.
* Training budgets (epochs, boosting rounds) for refits without a validation tail are the
  median stopping point over every development fit of the family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlpkg.config import CANDIDATES, NEURAL_FAMILIES
from mlpkg.errors import MlpkgError
from mlpkg.evaluation.metrics import log_losses
from mlpkg.models.ensemble import FIXED_WEIGHTS, combine, fit_convex_weights


@dataclass(frozen=True)
class Procedure:
    """What a candidate is, so it can be refit anywhere: members, weights and budgets.

    Attributes:
        name: A family (``lstm``) or an ensemble (``weighted``, ``stacked``).
        members: The families whose estimators it fits (one for a family).
        weights: Combination weight per member (1.0 for a single family).
        budgets: Per member, the estimator parameters of a refit without a validation tail
            (e.g. ``{"epochs": 4, "validation_fraction": 0.0}``); empty for models without one.
    """

    name: str
    members: tuple[str, ...]
    weights: dict[str, float]
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (logged as ``procedure.json`` and kept in the model bundle)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Procedure:
        """Rebuild a procedure written by :meth:`as_dict`."""
        return cls(
            name=str(data["name"]),
            members=tuple(str(m) for m in data["members"]),
            weights={str(k): float(v) for k, v in data["weights"].items()},
            budgets={str(k): dict(v) for k, v in data.get("budgets", {}).items()},
        )


@dataclass(frozen=True)
class Selection:
    """The development-fold choice: the candidate, every candidate's score, stacking weights.

    Attributes:
        chosen: The selected family or ensemble.
        scores: Mean development log loss per candidate (over seeds, of fold means).
        stacked_weights: Per fold, the weights used to score the stacked ensemble out of
            sample (empty without ``stacked``).
    """

    chosen: str
    scores: dict[str, float]
    stacked_weights: dict[int, dict[str, float]] = field(default_factory=dict)


def weighted_members(families: Sequence[str]) -> dict[str, float]:
    """The replaced service's fixed weights, for the neural families present."""
    return {f: FIXED_WEIGHTS[f] for f in families if f in NEURAL_FAMILIES}


def _matrix(group: pd.DataFrame, members: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    wide = group.pivot_table(index="open_time", columns="model", values="proba_up", aggfunc="first")
    missing = [m for m in members if m not in wide.columns]
    if missing or wide[list(members)].isna().any().any():
        raise MlpkgError(
            f"Members {list(members)} did not score the same rows (missing {missing})."
        )
    return wide, wide[list(members)].to_numpy(dtype=np.float64)


def _ensemble_rows(
    group: pd.DataFrame, name: str, members: Sequence[str], weights: np.ndarray
) -> pd.DataFrame:
    wide, probas = _matrix(group, members)
    first = group[group["model"] == members[0]].set_index("open_time").loc[wide.index]
    rows = first.reset_index()
    rows["model"] = name
    rows["proba_up"] = combine(probas, weights)
    return rows[list(group.columns)]


def _stacked_fold_weights(
    predictions: pd.DataFrame,
    members: Sequence[str],
    seed: int,
    fold: int,
    cutoff: pd.Timestamp,
) -> np.ndarray:
    """Convex weights fitted on the seed's earlier folds, on rows opened before ``cutoff``."""
    earlier = predictions[
        (predictions["seed"] == seed)
        & (predictions["fold"] < fold)
        & (predictions["open_time"] < cutoff)
    ]
    if earlier.empty:
        return np.full(len(members), 1.0 / len(members))
    wide, probas = _matrix(earlier[earlier["model"].isin(members)], members)
    y = earlier[earlier["model"] == members[0]].set_index("open_time").loc[wide.index, "y_true"]
    return np.asarray(fit_convex_weights(probas, y.to_numpy(dtype=np.float64)))


def add_ensembles(
    predictions: pd.DataFrame,
    ensembles: Sequence[str],
    families: Sequence[str],
    *,
    purge: pd.Timedelta | None = None,
) -> tuple[pd.DataFrame, dict[int, dict[str, float]]]:
    """Append out-of-sample rows of each ensemble to development-fold predictions.

    Args:
        predictions: Out-of-fold predictions (``fold, seed, open_time, model, proba_up,
            y_true, ...``).
        ensembles: The ensembles to add (``weighted``, ``stacked``).
        families: The families in ``models`` (the stacked members).
        purge: Clock time before a fold's first row whose earlier out-of-fold rows are left
            out of that fold's stacking weights (``purge_rows(h, window) * interval``;
            None: no purge).

    Returns:
        The predictions with ensemble rows added, and the base seed's (the lowest seed's)
        stacked weights used per fold.
    """
    frames, stacked_weights = [predictions], {}
    base_seed = int(predictions["seed"].min()) if len(predictions) else 0
    gap = pd.Timedelta(0) if purge is None else purge
    for (fold, seed), group in predictions.groupby(["fold", "seed"], sort=True):
        if "weighted" in ensembles:
            fixed = weighted_members(families)
            weights = np.asarray(list(fixed.values())) / sum(fixed.values())
            frames.append(_ensemble_rows(group, "weighted", list(fixed), weights))
        if "stacked" in ensembles:
            cutoff = pd.Timestamp(group["open_time"].min()) - gap
            weights = _stacked_fold_weights(predictions, families, int(seed), int(fold), cutoff)
            frames.append(_ensemble_rows(group, "stacked", families, weights))
            if int(seed) == base_seed:
                stacked_weights[int(fold)] = dict(zip(families, map(float, weights), strict=True))
    return pd.concat(frames, ignore_index=True), stacked_weights


def candidate_scores(predictions: pd.DataFrame, candidates: Sequence[str]) -> dict[str, float]:
    """Mean development log loss per candidate: per seed the mean over folds, then over seeds."""
    scores = {}
    for name in candidates:
        rows = predictions[predictions["model"] == name]
        if rows.empty:
            raise MlpkgError(f"No development predictions of candidate {name!r}.")
        per_fold = rows.groupby(["seed", "fold"]).apply(
            lambda g: float(log_losses(g["y_true"], g["proba_up"]).mean())
        )
        scores[name] = float(per_fold.groupby(level="seed").mean().mean())
    return scores


def choose_candidate(
    predictions: pd.DataFrame, candidates: Sequence[str], stacked_weights: dict[int, Any]
) -> Selection:
    """Select the candidate with the lowest mean development log loss.

    Raises:
        MlpkgError: if a candidate has no predictions or every score is NaN.
    """
    scores = candidate_scores(predictions, candidates)
    finite = [n for n in candidates if math.isfinite(scores[n])]
    if not finite:
        raise MlpkgError(f"No candidate has a finite development log loss: {scores}.")
    chosen = min(finite, key=lambda n: (scores[n], CANDIDATES.index(n)))
    return Selection(chosen=chosen, scores=scores, stacked_weights=stacked_weights)


def median_budget(fits: pd.DataFrame, family: str, budget_param: str | None) -> dict[str, Any]:
    """The refit parameters of a family: its median stopping point, no validation tail."""
    if budget_param is None:
        return {}
    points = pd.to_numeric(fits.loc[fits["model"] == family, "stopping_point"], errors="coerce")
    points = points.dropna()
    if points.empty:
        raise MlpkgError(f"No stopping points were recorded for {family!r} on the folds.")
    return {budget_param: max(1, round(float(points.median()))), "validation_fraction": 0.0}


def final_weights(
    predictions: pd.DataFrame, name: str, families: Sequence[str], base_seed: int
) -> dict[str, float]:
    """The member weights of a candidate for the holdout and the deployed model.

    A family weighs 1.0; ``weighted`` uses the fixed weights; ``stacked`` fits convex weights on
    every development fold's out-of-fold predictions of the base seed.
    """
    if name not in ("weighted", "stacked"):
        return {name: 1.0}
    if name == "weighted":
        return weighted_members(families)
    rows = predictions[(predictions["seed"] == base_seed) & predictions["model"].isin(families)]
    wide, probas = _matrix(rows, families)
    y = rows[rows["model"] == families[0]].set_index("open_time").loc[wide.index, "y_true"]
    weights = fit_convex_weights(probas, y.to_numpy(dtype=np.float64))
    return dict(zip(families, map(float, weights), strict=True))
