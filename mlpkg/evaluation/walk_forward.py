"""Fit models on walk-forward folds (and seeds) and collect their out-of-sample predictions.

Like statsforecast's cross-validation, each output row is one (fold, seed, model, test row),
stamped with the fold's ``cutoff``: the open time of the last row the fold's models were
trained on (their labels reach ``horizon`` candles further; the purge keeps those before the
first test row). Models see only their fold's training rows when fitting; to score the first
test rows a model may read ``context_rows`` feature rows before ``test_start`` (features only,
never labels). Rows without a usable label (NaN ``y``: the unlabelled tail, or a label or window
spanning missing candles) are context only: never fitted on, never scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.splits import Fold
from mlpkg.models import DirectionEstimator
from mlpkg.progress import Progress, ProgressEvent, emit, raise_if_stopped

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = (
    "fold",
    "seed",
    "cutoff",
    "open_time",
    "model",
    "proba_up",
    "y_true",
    "future_return",
)
FITS_ATTR = "fits"


@dataclass(frozen=True)
class FitRecords:
    """The per-fit records kept in a prediction frame's ``attrs`` (read by :func:`fits_frame`).

    Written once and only read, so a deep copy is the object itself: pandas deep-copies
    ``attrs`` into every frame or column derived from the predictions (each groupby group, each
    column read), which for a list of dicts cost a tenth of a logistic training's time.
    """

    rows: tuple[Mapping[str, Any], ...]

    def __deepcopy__(self, memo: dict[int, Any]) -> FitRecords:
        return self


@dataclass(frozen=True)
class ModelSpec:
    """How to build one model for a fold: ``factory(seed)``, and whether the seed matters."""

    factory: Callable[[int], DirectionEstimator]
    seeded: bool = False


@dataclass(frozen=True)
class FitResult:
    """A fitted model and its out-of-sample P(up) on the labelled rows of the scored range."""

    model: DirectionEstimator
    positions: np.ndarray
    p_up: np.ndarray
    record: dict[str, Any]


def _check_inputs(X: pd.DataFrame, y: pd.Series, future_returns: pd.Series) -> None:
    for name, series in (("y", y), ("future_returns", future_returns)):
        if len(series) != len(X) or not series.index.equals(X.index):
            raise MlpkgError(f"{name} must have the same index as X ({len(X)} rows).")
    values = y.to_numpy(dtype="float64", na_value=np.nan)
    if not np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():
        raise MlpkgError("y must hold 0/1 labels, or NaN for rows that are context only.")


def fit_and_score(
    spec: ModelSpec,
    seed: int,
    X: pd.DataFrame,
    y: pd.Series,
    train: tuple[int, int],
    scored: tuple[int, int],
    name: str,
) -> FitResult:
    """Fit on rows ``[train)`` and predict the labelled rows of ``[scored)``.

    Raises:
        MlpkgError: when a labelled scored row gets no probability (too little history).
    """
    started = time.perf_counter()
    model = spec.factory(seed).fit(X.iloc[train[0] : train[1]], y.iloc[train[0] : train[1]])
    fitted = time.perf_counter()
    start = max(0, scored[0] - model.context_rows)
    proba = np.asarray(model.predict_proba(X.iloc[start : scored[1]])[:, 1], dtype=np.float64)
    p_up = proba[scored[0] - start :]
    labelled = np.flatnonzero(y.iloc[scored[0] : scored[1]].notna().to_numpy())
    p_up = p_up[labelled]
    if np.isnan(p_up).any():
        raise MlpkgError(
            f"Model {name!r} left {int(np.isnan(p_up).sum())} labelled rows unscored "
            f"(context_rows={model.context_rows}); it needs more history before the scored rows."
        )
    record = {
        "model": name,
        "seed": seed,
        "fit_seconds": fitted - started,
        "predict_seconds": time.perf_counter() - fitted,
        "train_rows": train[1] - train[0],
        "stopping_point": getattr(model, "stopping_point_", None),
    }
    return FitResult(model, labelled + scored[0], p_up, record)


def _fold_frame(
    X: pd.DataFrame,
    y: pd.Series,
    future_returns: pd.Series,
    fold: Fold,
    result: FitResult,
    seed: int,
) -> pd.DataFrame:
    rows = result.positions
    return pd.DataFrame(
        {
            "fold": fold.index,
            "seed": seed,
            "cutoff": X.index[fold.train_end - 1],
            "open_time": X.index[rows],
            "model": result.record["model"],
            "proba_up": result.p_up,
            "y_true": y.to_numpy(dtype=np.float64)[rows],
            "future_return": future_returns.to_numpy(dtype=np.float64)[rows],
        }
    )


def run_walk_forward(
    X: pd.DataFrame,
    y: pd.Series,
    future_returns: pd.Series,
    models: Mapping[str, ModelSpec],
    folds: Sequence[Fold],
    *,
    seeds: Sequence[int] = (0,),
    progress: Progress | None = None,
    on_fit: Callable[[Fold, FitResult], None] | None = None,
) -> pd.DataFrame:
    """Fit a fresh model per (fold, model, seed) on the training rows; predict the test rows.

    A model whose spec is not ``seeded`` is fitted once per fold and its predictions are
    repeated for every seed, so every model has rows for every seed (ensembles combine members
    seed by seed).

    Args:
        X: Time-ordered, finite feature rows (warm-up dropped).
        y: 0/1 labels aligned with X (``direction_<h>``), NaN for context-only rows.
        future_returns: ``future_return_<h>`` aligned with X (used by trading metrics).
        models: Name -> spec (factory of an unfitted estimator given a seed).
        folds: From :func:`mlpkg.evaluation.splits.walk_forward_splits`.
        seeds: Seeds of the seeded models (the first is the base seed).
        progress: Called with a ``fit`` event (done/total over every fit) after each fit.
        on_fit: Called with the fold and each fit's result (e.g. to keep fitted models).

    Returns:
        Long frame with :data:`PREDICTION_COLUMNS`; ``attrs["fits"]`` holds one record per fit
        (``fold, model, seed, fit_seconds, predict_seconds, train_rows, stopping_point``) as a
        :class:`FitRecords`, read by :func:`fits_frame`.
    """
    _check_inputs(X, y, future_returns)
    frames: list[pd.DataFrame] = []
    fits: list[dict[str, Any]] = []
    total = len(folds) * sum(len(seeds) if spec.seeded else 1 for spec in models.values())
    for fold in folds:
        for name, spec in models.items():
            for seed in seeds if spec.seeded else seeds[:1]:
                raise_if_stopped(f"fit {len(fits) + 1}/{total} (fold {fold.index + 1} {name})")
                result = fit_and_score(
                    spec,
                    seed,
                    X,
                    y,
                    (fold.train_start, fold.train_end),
                    (fold.test_start, fold.test_end),
                    name,
                )
                fits.append({"fold": fold.index, **result.record})
                if on_fit is not None:
                    on_fit(fold, result)
                copies = [seed] if spec.seeded else list(seeds)
                frames += [_fold_frame(X, y, future_returns, fold, result, s) for s in copies]
                seeded = seed if spec.seeded else None
                emit(progress, _fit_event(fold, len(folds), name, seeded, result, len(fits), total))
    result_frame = pd.concat(frames, ignore_index=True) if frames else empty_predictions()
    result_frame.attrs[FITS_ATTR] = FitRecords(tuple(fits))
    return result_frame


def _fit_event(
    fold: Fold, n_folds: int, name: str, seed: int | None, result: FitResult, done: int, total: int
) -> ProgressEvent:
    seeded = f" seed {seed}" if seed is not None else ""
    text = (
        f"fold {fold.index + 1}/{n_folds} {name}{seeded}: fit "
        f"{result.record['fit_seconds']:.1f}s on {fold.train_rows} rows"
    )
    log.debug(text)
    return ProgressEvent("fit", text, done, total)


def empty_predictions() -> pd.DataFrame:
    """A prediction frame with no rows."""
    return pd.DataFrame({name: [] for name in PREDICTION_COLUMNS})


def fits_frame(predictions: pd.DataFrame) -> pd.DataFrame:
    """Return the per-fit records (seconds, rows, stopping point) of :func:`run_walk_forward`."""
    columns = [
        "fold",
        "model",
        "seed",
        "fit_seconds",
        "predict_seconds",
        "train_rows",
        "stopping_point",
    ]
    records = predictions.attrs.get(FITS_ATTR)
    rows = list(records.rows) if records is not None else []
    return pd.DataFrame(rows, columns=columns)
