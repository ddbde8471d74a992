"""The estimator contract: the ``DirectionEstimator`` protocol, input checks, a shared base class.

Every model (the six families, the baselines and the ensembles) is a scikit-learn estimator:
parameters come from ``__init__`` (``get_params``/``set_params``/``clone``/``repr`` are
scikit-learn's), ``fit`` returns self and learned state ends in ``_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from mlpkg.errors import MlpkgError, ModelLoadError, NotFittedError
from mlpkg.models.windows import TargetSplit, split_targets

if TYPE_CHECKING:
    from pathlib import Path


@runtime_checkable
class DirectionEstimator(Protocol):
    """What the evaluation needs from a model (every family, baseline and ensemble)."""

    @property
    def context_rows(self) -> int:
        """Rows of history needed before the first row the model can score."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> DirectionEstimator:
        """Fit on contiguous time-ordered rows; return self.

        ``y[t]`` is 0, 1 or NaN. A NaN label marks a context-only row (an unlabelled tail, or a
        row whose label or window spans missing candles): its features may be read as history
        by other rows' windows, but it is never a training target.
        """

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return ``(len(X), 2)`` probabilities (column 1 = P(up)), NaN rows without history."""


def validate_features(X: pd.DataFrame, expected: Sequence[str] | None = None) -> np.ndarray:
    """Check a feature frame and return its values as float64.

    Args:
        X: Time-ordered feature rows.
        expected: Column names the model was fitted on (same order), or None at fit time.

    Raises:
        ModelLoadError: if the columns differ from ``expected`` (names the missing/extra ones).
        MlpkgError: if X is not a DataFrame, is not numeric or holds NaN/inf values.
    """
    if not isinstance(X, pd.DataFrame):
        raise MlpkgError(f"Features must be a pandas DataFrame, got {type(X).__name__}.")
    columns = [str(c) for c in X.columns]
    if expected is not None and columns != list(expected):
        raise ModelLoadError(_column_mismatch(columns, list(expected)))
    try:
        values = X.to_numpy(dtype="float64")
    except (TypeError, ValueError) as exc:
        raise MlpkgError(f"Features must be numeric: {exc}.") from exc
    bad = ~np.isfinite(values)
    if bad.any():
        names = [columns[i] for i in np.flatnonzero(bad.any(axis=0))][:10]
        raise MlpkgError(
            f"Features hold {int(bad.sum())} NaN/inf values (columns {names}). Drop the warm-up "
            "rows (and rows with missing candles) before fitting or predicting."
        )
    return np.asarray(values, dtype=np.float64)


def _column_mismatch(columns: list[str], expected: list[str]) -> str:
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    if not missing and not extra:
        return (
            f"Feature columns are in a different order than at fit time; expected {expected}. "
            "Reorder them with X[model.feature_names_in_]."
        )
    return (
        f"Feature columns do not match the model: missing {missing}, unexpected {extra}. "
        "Build features with the FeatureConfig the model was trained with, or retrain it."
    )


def validate_target(y: pd.Series, X: pd.DataFrame) -> np.ndarray:
    """Check that labels are 0, 1 or NaN and aligned with X; return them as float64.

    NaN marks a context-only row (never a training target); at least one label must be finite.

    Raises:
        MlpkgError: if y is misaligned with X, holds values other than 0, 1 and NaN, or has no
            finite label.
    """
    if not isinstance(y, pd.Series) or len(y) != len(X) or not y.index.equals(X.index):
        raise MlpkgError(
            "Labels must be a pandas Series with the same index as the features "
            f"({len(X)} rows); align them with y.loc[X.index]."
        )
    try:
        values = np.asarray(y.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MlpkgError(f"Labels must be numeric 0/1 (NaN for context rows): {exc}.") from exc
    finite = np.isfinite(values)
    if not np.isin(values[finite], (0.0, 1.0)).all() or np.isinf(values).any():
        raise MlpkgError(
            "Labels must be 0, 1 or NaN (NaN marks a context-only row, e.g. the last `horizon` "
            "rows, whose future is unknown); got other values."
        )
    if not finite.any():
        raise MlpkgError("Labels are all NaN: there is nothing to train on; pass labelled rows.")
    return values


def windowed_fit_inputs(
    X: pd.DataFrame, y: pd.Series, window: int, validation_fraction: float, purge: int
) -> tuple[np.ndarray, np.ndarray, TargetSplit]:
    """The checked features and labels of a windowed fit, and its chronological target split.

    The first step of every windowed family's ``fit`` (see ``split_targets``).

    Raises:
        MlpkgError: on NaN features, misaligned labels or labels other than 0/1/NaN.
        ConfigError: if there are too few labelled rows for the window and validation split.
    """
    values = validate_features(X)
    target = validate_target(y, X)
    return values, target, split_targets(target, window - 1, validation_fraction, purge)


class DirectionClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Shared base of every mlpkg estimator: P(up) of the row's h-step direction.

    Subclasses set ``family`` (the name written by ``save`` and read by
    ``mlpkg.models.families.load_estimator``) and ``budget_param`` (the parameter that sets the
    training budget, e.g. ``"epochs"``, or None), and implement ``fit``, ``_predict_up``,
    ``save`` and ``load``. After ``fit`` every estimator has ``feature_names_in_``,
    ``n_features_in_``, ``classes_``, ``train_rows_`` and ``stopping_point_``.
    """

    family: ClassVar[str] = ""
    budget_param: ClassVar[str | None] = None

    @property
    def context_rows(self) -> int:
        """Rows of history needed before the first scored row (0 unless the model windows)."""
        return 0

    def _keep_params(self, arguments: dict[str, Any]) -> None:
        """Store each ``__init__`` parameter unchanged as the attribute of the same name.

        scikit-learn's contract (``get_params``/``clone`` read the ``__init__`` signature);
        subclasses call ``self._keep_params(locals())`` as the whole body of ``__init__``.
        """
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def _set_input_state(self, names: Sequence[str]) -> None:
        self.feature_names_in_ = np.asarray([str(n) for n in names], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.classes_ = np.asarray([0.0, 1.0])

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "feature_names_in_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X, y) or load(path)."
            )

    def _inputs(self, X: pd.DataFrame) -> np.ndarray:
        """Check fitted state and X's columns; return X's values."""
        self._check_fitted()
        return validate_features(X, list(self.feature_names_in_))

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return ``(len(X), 2)`` probabilities [P(down), P(up)] aligned with X's rows.

        Rows without ``context_rows`` rows of history before them are NaN.

        Raises:
            NotFittedError: before ``fit``/``load``.
            ModelLoadError: if X's columns differ from ``feature_names_in_``.
            MlpkgError: if X holds NaN/inf values.
        """
        values = self._inputs(X)
        if len(values) == 0:
            return np.empty((0, 2))
        p_up = np.asarray(self._predict_up(X, values), dtype=np.float64)
        return np.column_stack([1.0 - p_up, p_up])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return 1.0 (up, P(up) > 0.5), 0.0 (down) or NaN (no full history) per row."""
        p_up = self.predict_proba(X)[:, 1]
        return np.where(np.isnan(p_up), np.nan, (p_up > 0.5).astype(np.float64))

    def score(self, X: pd.DataFrame, y: pd.Series, sample_weight: Any = None) -> float:
        """Return the accuracy over the rows with a score and a finite label."""
        predicted = self.predict(X)
        truth = np.asarray(y, dtype=np.float64)
        keep = np.isfinite(predicted) & np.isfinite(truth)
        weights = None if sample_weight is None else np.asarray(sample_weight)[keep]
        return float(np.average(predicted[keep] == truth[keep], weights=weights))

    def save(self, path: Path) -> None:
        """Write the fitted estimator to directory ``path`` (no pickle)."""
        raise NotImplementedError

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load an estimator written by :meth:`save`."""
        raise NotImplementedError
