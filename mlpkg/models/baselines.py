"""Baselines the LSTM must beat, with the same estimator API (``context_rows = 0``).

* ``MajorityClassBaseline`` ("majority"): the training prior P(up) for every row.
* ``AlwaysUpBaseline`` ("always_up"): always decides up (the buy-and-hold position); its P(up)
  is the prior when up is the majority (then it equals "majority"), otherwise 0.5 + ``margin``,
  the least confident "up" (log loss ~ ln 2 instead of the prior's smaller loss).
* ``PersistenceBaseline`` ("persistence"): the last realised move over the horizon continues;
  its P(up) is the training frequency with which that happened.
* ``LogisticBaseline`` ("logistic"): StandardScaler + LogisticRegression on the same features.

Probabilities from counts use add-one (Laplace) smoothing, so they are never exactly 0 or 1.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlpkg.errors import ConfigError, NotFittedError
from mlpkg.models.estimator import validate_features, validate_target

log = logging.getLogger(__name__)


def _smoothed_rate(hits: np.ndarray) -> float:
    """Add-one smoothed share of true values: (sum + 1) / (n + 2)."""
    return float((np.sum(hits) + 1.0) / (len(hits) + 2.0))


class _Baseline:
    """Shared plumbing: parameters, validation, fitted state, ``predict``."""

    @property
    def context_rows(self) -> int:
        """Baselines score each row from that row alone: 0."""
        return 0

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters (scikit-learn contract)."""
        parameters = inspect.signature(type(self).__init__).parameters.values()
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names = [p.name for p in parameters if p.name != "self" and p.kind in named]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any) -> _Baseline:
        """Set constructor parameters; return self."""
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ConfigError(f"Unknown parameter {name!r}; valid: {sorted(valid)}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def fit(self, X: pd.DataFrame, y: pd.Series) -> _Baseline:
        """Fit on time-ordered rows (X without NaN, y 0/1 aligned); return self."""
        values = validate_features(X)
        target = validate_target(y, X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.base_rate_ = _smoothed_rate(target)
        self._fit_values(X, values, target)
        return self

    def _fit_values(self, X: pd.DataFrame, values: np.ndarray, target: np.ndarray) -> None:
        """Learn model-specific state (nothing by default)."""

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return ``(len(X), 2)`` probabilities [P(down), P(up)] aligned with X's rows."""
        if not hasattr(self, "base_rate_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(X, y).")
        values = validate_features(X, list(self.feature_names_in_))
        p_up = np.asarray(self._predict_up(X, values), dtype=np.float64)
        return np.column_stack([1.0 - p_up, p_up])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return 1.0 where P(up) > 0.5, else 0.0."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(np.float64)


class MajorityClassBaseline(_Baseline):
    """Predicts the training prior P(up) for every row (reported as ``majority``).

    Its decision is the majority class; its log loss is the entropy of the prior, the floor a
    model without information reaches.
    """

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        return np.full(len(values), self.base_rate_)


class AlwaysUpBaseline(_Baseline):
    """Always decides up (reported as ``always_up``): the long-only, buy-and-hold decision.

    P(up) is the training prior when that is above 0.5 (identical to the majority baseline)
    and otherwise ``0.5 + margin``: the smallest lean that still decides up.

    Args:
        margin: How far above 0.5 the probability sits when down is the majority.
    """

    def __init__(self, margin: float = 1e-3) -> None:
        self.margin = margin

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        return np.full(len(values), max(self.base_rate_, 0.5 + self.margin))


class PersistenceBaseline(_Baseline):
    """The last realised move continues: up if ``X[column] > 0`` (reported as ``persistence``).

    ``column`` should be the trailing return over the label horizon (``return_<h>``:
    close[t]/close[t-h] - 1). P(up) is the training frequency ``persist_rate_`` with which the
    next h-step direction equalled the last one (``1 - persist_rate_`` after a down move), so
    log loss is meaningful; if moves tended to reverse, the decision follows the reversal.

    Args:
        column: Feature holding the trailing h-step return.
    """

    def __init__(self, column: str = "return_5") -> None:
        self.column = column

    def _last_up(self, X: pd.DataFrame) -> np.ndarray:
        if self.column not in X.columns:
            returns = [str(c) for c in X.columns if str(c).startswith("return_")]
            raise ConfigError(
                f"PersistenceBaseline needs the feature {self.column!r}; available return "
                f"columns: {returns}. Add the horizon to FeatureConfig.return_lookbacks."
            )
        return np.asarray(X[self.column].to_numpy(dtype=np.float64) > 0.0)

    def _fit_values(self, X: pd.DataFrame, values: np.ndarray, target: np.ndarray) -> None:
        self.persist_rate_ = _smoothed_rate(self._last_up(X) == (target > 0.5))

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        return np.where(self._last_up(X), self.persist_rate_, 1.0 - self.persist_rate_)


class LogisticBaseline(_Baseline):
    """StandardScaler + LogisticRegression on the same features (reported as ``logistic``).

    Both steps are fitted on the training rows only. If the training labels hold a single
    class, it falls back to the prior.

    Args:
        C: Inverse L2 regularisation strength.
        max_iter: L-BFGS iterations.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000) -> None:
        self.C = C
        self.max_iter = max_iter

    def _fit_values(self, X: pd.DataFrame, values: np.ndarray, target: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.pipeline_: Any = None
        if len(np.unique(target)) < 2:
            log.warning("LogisticBaseline: one class in training labels; predicting the prior")
            return
        self.pipeline_ = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter)
        ).fit(values, target.astype(int))

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        if self.pipeline_ is None:
            return np.full(len(values), self.base_rate_)
        return np.asarray(self.pipeline_.predict_proba(values)[:, 1])


def default_baselines(
    horizon: int, *, logistic_c: float = 1.0
) -> dict[str, Callable[[], _Baseline]]:
    """Return name -> factory of every baseline, as used beside the LSTM in an evaluation.

    Args:
        horizon: Label horizon h; persistence reads the ``return_<h>`` feature.
        logistic_c: Inverse regularisation strength of the logistic baseline.
    """
    return {
        "majority": MajorityClassBaseline,
        "always_up": AlwaysUpBaseline,
        "persistence": lambda: PersistenceBaseline(column=f"return_{horizon}"),
        "logistic": lambda: LogisticBaseline(C=logistic_c),
    }
