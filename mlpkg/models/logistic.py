"""The logistic family: StandardScaler + L2 logistic regression on the row's features.

It is both a model family and the strong reference baseline every family is reported beside.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from mlpkg.models.artifacts import (
    corrupt,
    read_record,
    restore,
    scaler_from_json,
    scaler_to_json,
    write_record,
)
from mlpkg.models.estimator import DirectionClassifier, validate_features, validate_target

log = logging.getLogger(__name__)


def smoothed_rate(hits: np.ndarray) -> float:
    """Add-one (Laplace) smoothed share of true values: (sum + 1) / (n + 2)."""
    return float((np.sum(hits) + 1.0) / (len(hits) + 2.0))


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread for the block (this model's L-BFGS fit).

    L-BFGS here works on vectors of a few dozen coefficients: more BLAS threads only wait for
    each other. With two they cost about three times the CPU of one on 1,200 rows (measured on
    the 2-core machine: notebook 30's tiny pairs comparison, 14 s -> 5 s), more on a busy
    machine. One thread also makes the fit independent of the machine's thread count, as
    LightGBM's fixed ``num_threads`` does.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


class LogisticDirectionClassifier(DirectionClassifier):
    """StandardScaler + LogisticRegression on the latest feature row (family ``logistic``).

    Both steps are fitted on the labelled rows only (NaN labels are context rows and are
    skipped). If the training labels hold a single class, it predicts the add-one smoothed
    prior. ``context_rows`` is 0, there is no training budget (``budget_param`` None,
    ``stopping_point_`` None). Learned state: ``scaler_``, ``coef_``, ``intercept_`` (None
    with one class), ``base_rate_``, ``train_rows_``.

    Args:
        c: Inverse L2 regularisation strength (scikit-learn's ``C``).
        max_iter: L-BFGS iterations.
    """

    family: ClassVar[str] = "logistic"

    def __init__(self, c: float = 1.0, max_iter: int = 2000) -> None:
        self._keep_params(locals())

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Self:
        """Fit on the rows with a finite label; return self.

        Raises:
            MlpkgError: on NaN features, misaligned labels or labels other than 0/1/NaN.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        values = validate_features(X)
        target = validate_target(y, X)
        rows = np.flatnonzero(np.isfinite(target))
        self.scaler_ = StandardScaler().fit(values[rows])
        self.base_rate_ = smoothed_rate(target[rows])
        self.coef_: np.ndarray | None = None
        self.intercept_: float | None = None
        if len(np.unique(target[rows])) < 2:
            log.warning("logistic: one class in the training labels; predicting the prior")
        else:
            model = LogisticRegression(C=self.c, max_iter=self.max_iter)
            with one_blas_thread():
                model.fit(self.scaler_.transform(values[rows]), target[rows].astype(int))
            self.coef_ = np.asarray(model.coef_[0], dtype=np.float64)
            self.intercept_ = float(model.intercept_[0])
        self.train_rows_ = int(rows[-1]) + 1
        self.stopping_point_ = None
        self._set_input_state(X.columns)
        return self

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        if self.coef_ is None or self.intercept_ is None:
            return np.full(len(values), self.base_rate_)
        from scipy.special import expit

        return np.asarray(expit(self.scaler_.transform(values) @ self.coef_ + self.intercept_))

    def save(self, path: Path) -> None:
        """Write the fitted model to directory ``path`` as ``estimator.json`` (no pickle)."""
        self._check_fitted()
        state: dict[str, Any] = {
            "scaler": scaler_to_json(self.scaler_),
            "coef": None if self.coef_ is None else self.coef_.tolist(),
            "intercept": self.intercept_,
            "base_rate": self.base_rate_,
            "train_rows": self.train_rows_,
        }
        write_record(Path(path), self, state)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load a model written by :meth:`save`.

        Raises:
            ModelLoadError: if the file is missing or corrupt or its sizes disagree.
        """
        directory = Path(path)
        record = read_record(directory, cls.family)
        estimator = restore(cls, record, directory)
        state = record.state
        try:
            n_features = estimator.n_features_in_
            estimator.scaler_ = scaler_from_json(state["scaler"], n_features)
            coef = state["coef"]
            estimator.coef_ = None if coef is None else np.asarray(coef, dtype=np.float64)
            if estimator.coef_ is not None and estimator.coef_.shape != (n_features,):
                raise ValueError(f"{len(estimator.coef_)} coefficients for {n_features} features")
            intercept = state["intercept"]
            estimator.intercept_ = None if intercept is None else float(intercept)
            estimator.base_rate_ = float(state["base_rate"])
            estimator.train_rows_ = int(state["train_rows"])
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt(directory, exc) from exc
        estimator.stopping_point_ = None
        return estimator
