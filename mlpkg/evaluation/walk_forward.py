"""Run models over walk-forward folds and collect their test predictions in long format.

Like statsforecast's cross-validation, each output row is one (fold, model, test row), stamped
with the fold's ``cutoff``. Models see only their fold's training rows when fitting; to score
the first test rows a model may read ``context_rows`` feature rows before ``test_start``
(features only, never labels).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.splits import Fold
from mlpkg.models.estimator import DirectionEstimator

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = (
    "fold", "cutoff", "open_time", "model", "proba_up", "y_true", "future_return",
)  # fmt: skip
TIMINGS_ATTR = "timings"


def _check_inputs(
    X: pd.DataFrame, y: pd.Series, future_returns: pd.Series, folds: Sequence[Fold]
) -> None:
    outside = [f.index for f in folds if f.test_end > len(X) or f.train_start < 0]
    if outside:
        raise MlpkgError(
            f"Folds {outside} reach beyond the {len(X)} rows of X; build the folds with "
            "walk_forward_splits(len(X), ...)."
        )
    for name, series in (("y", y), ("future_returns", future_returns)):
        if len(series) != len(X) or not series.index.equals(X.index):
            raise MlpkgError(f"{name} must have the same index as X ({len(X)} rows).")
        if series.isna().any():
            raise MlpkgError(
                f"{name} holds NaN; drop the warm-up rows and the last `horizon` rows (whose "
                "future is unknown) from X, y and future_returns before the walk-forward."
            )


def _predict_fold(model: DirectionEstimator, X: pd.DataFrame, fold: Fold, name: str) -> np.ndarray:
    start = max(0, fold.test_start - model.context_rows)
    proba = model.predict_proba(X.iloc[start : fold.test_end])[:, 1]
    p_up = np.asarray(proba[fold.test_start - start :], dtype=np.float64)
    if len(p_up) != fold.test_rows or np.isnan(p_up).any():
        raise MlpkgError(
            f"Model {name!r} left {int(np.isnan(p_up).sum())} test rows of fold {fold.index} "
            f"unscored (context_rows={model.context_rows}); it needs more history than "
            "the rows before the test block."
        )
    return p_up


def _fold_frame(
    X: pd.DataFrame, y: pd.Series, future_returns: pd.Series, fold: Fold, name: str,
    p_up: np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    test = slice(fold.test_start, fold.test_end)
    return pd.DataFrame({
        "fold": fold.index,
        "cutoff": X.index[fold.test_start],
        "open_time": X.index[test],
        "model": name,
        "proba_up": p_up,
        "y_true": y.iloc[test].to_numpy(dtype=np.float64),
        "future_return": future_returns.iloc[test].to_numpy(dtype=np.float64),
    })  # fmt: skip


def run_walk_forward(
    X: pd.DataFrame,
    y: pd.Series,
    future_returns: pd.Series,
    models: Mapping[str, Callable[[], DirectionEstimator]],
    folds: Sequence[Fold],
    *,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Fit a fresh model per (fold, model) on the training rows and predict the test rows.

    Args:
        X: Time-ordered, NaN-free feature rows (warm-up and unlabelled tail dropped).
        y: 0/1 labels aligned with X (``direction_<h>``).
        future_returns: ``future_return_<h>`` aligned with X (used by trading metrics).
        models: Name -> factory returning an unfitted estimator.
        folds: From :func:`mlpkg.evaluation.splits.walk_forward_splits` over ``len(X)`` rows.
        progress: Called with a one-line message after each fit (e.g. ``print`` or a logger).

    Returns:
        Long frame with columns ``fold, cutoff, open_time, model, proba_up, y_true,
        future_return``; ``cutoff`` is the timestamp of the fold's first test row.
        ``attrs["timings"]`` lists ``{fold, model, fit_seconds, predict_seconds}`` records.
    """
    _check_inputs(X, y, future_returns, folds)
    frames, timings = [], []
    for fold in folds:
        train = slice(fold.train_start, fold.train_end)
        for name, factory in models.items():
            started = time.perf_counter()
            model = factory().fit(X.iloc[train], y.iloc[train])
            fitted = time.perf_counter()
            p_up = _predict_fold(model, X, fold, name)
            timing = {"fold": fold.index, "model": name, "fit_seconds": fitted - started,
                      "predict_seconds": time.perf_counter() - fitted}  # fmt: skip
            timings.append(timing)
            frames.append(_fold_frame(X, y, future_returns, fold, name, p_up))
            message = (f"fold {fold.index + 1}/{len(folds)} {name}: fit "
                       f"{timing['fit_seconds']:.1f}s on {fold.train_rows} rows")  # fmt: skip
            log.info(message)
            if progress is not None:
                progress(message)
    result = pd.concat(frames, ignore_index=True) if frames else _empty_predictions()
    result.attrs[TIMINGS_ATTR] = timings
    return result


def _empty_predictions() -> pd.DataFrame:
    return pd.DataFrame({name: [] for name in PREDICTION_COLUMNS})


def timings_frame(predictions: pd.DataFrame) -> pd.DataFrame:
    """Return the per-(fold, model) fit/predict seconds recorded by :func:`run_walk_forward`."""
    records = predictions.attrs.get(TIMINGS_ATTR, [])
    return pd.DataFrame(records, columns=["fold", "model", "fit_seconds", "predict_seconds"])
