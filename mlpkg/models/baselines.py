"""Naive baselines every model is reported beside, with the same estimator API.

* ``MajorityClassBaseline`` ("majority"): the training prior P(up) for every row.
* ``AlwaysUpBaseline`` ("always_up"): always decides up (the buy-and-hold position); its P(up)
  is the prior when up is the majority (then it equals "majority"), otherwise 0.5 + ``margin``,
  the least confident "up" (log loss ~ ln 2 instead of the prior's smaller loss).
* ``PersistenceBaseline`` ("persistence"): the last realised move over the horizon continues;
  its P(up) is the training frequency with which that happened.

The strong reference, ``logistic``, is a model family (``LogisticDirectionClassifier``);
:func:`default_baselines` returns the naive ones plus it. Probabilities from counts use add-one
(Laplace) smoothing, so they are never exactly 0 or 1. Rows with a NaN label are ignored.
Every baseline has ``context_rows = 0``, ``budget_param = None`` and ``stopping_point_ = None``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from mlpkg.errors import ConfigError
from mlpkg.models.artifacts import corrupt, read_record, restore, write_record
from mlpkg.models.estimator import DirectionClassifier, validate_features, validate_target
from mlpkg.models.logistic import LogisticDirectionClassifier, smoothed_rate


class _Baseline(DirectionClassifier):
    """Shared plumbing: validation, the prior, fitted state as JSON."""

    _state: ClassVar[tuple[str, ...]] = ("base_rate_",)

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Self:
        """Fit on the rows with a finite label (X without NaN, y 0/1/NaN aligned); return self."""
        validate_features(X)
        target = validate_target(y, X)
        rows = np.flatnonzero(np.isfinite(target))
        self.base_rate_ = smoothed_rate(target[rows])
        self._fit_rows(X.iloc[rows], target[rows])
        self.train_rows_ = int(rows[-1]) + 1
        self.stopping_point_ = None
        self._set_input_state(X.columns)
        return self

    def _fit_rows(self, X: pd.DataFrame, target: np.ndarray) -> None:
        """Learn model-specific state from the labelled rows (nothing by default)."""

    def save(self, path: Path) -> None:
        """Write the fitted baseline to directory ``path`` as ``estimator.json``."""
        self._check_fitted()
        state = {name.rstrip("_"): float(getattr(self, name)) for name in self._state}
        write_record(Path(path), self, {**state, "train_rows": self.train_rows_})

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load a baseline written by :meth:`save`.

        Raises:
            ModelLoadError: if the file is missing or corrupt.
        """
        directory = Path(path)
        record = read_record(directory, cls.family)
        estimator = restore(cls, record, directory)
        try:
            for name in cls._state:
                setattr(estimator, name, float(record.state[name.rstrip("_")]))
            estimator.train_rows_ = int(record.state["train_rows"])
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt(directory, exc) from exc
        estimator.stopping_point_ = None
        return estimator


class MajorityClassBaseline(_Baseline):
    """Predicts the training prior P(up) for every row (reported as ``majority``).

    Its decision is the majority class; its log loss is the entropy of the prior, the floor a
    model without information reaches.
    """

    family: ClassVar[str] = "majority"

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        return np.full(len(values), self.base_rate_)


class AlwaysUpBaseline(_Baseline):
    """Always decides up (reported as ``always_up``): the long-only, buy-and-hold decision.

    P(up) is the training prior when that is above 0.5 (identical to the majority baseline)
    and otherwise ``0.5 + margin``: the smallest lean that still decides up.

    Args:
        margin: How far above 0.5 the probability sits when down is the majority.
    """

    family: ClassVar[str] = "always_up"

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

    family: ClassVar[str] = "persistence"
    _state: ClassVar[tuple[str, ...]] = ("base_rate_", "persist_rate_")

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

    def _fit_rows(self, X: pd.DataFrame, target: np.ndarray) -> None:
        self.persist_rate_ = smoothed_rate(self._last_up(X) == (target > 0.5))

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        return np.where(self._last_up(X), self.persist_rate_, 1.0 - self.persist_rate_)


NAIVE_BASELINES: tuple[str, ...] = ("majority", "always_up", "persistence")
"""The naive baselines, in reporting order."""
REFERENCE_BASELINE = "logistic"
"""The strong reference every family is reported beside (a model family itself)."""


def naive_baselines(horizon: int) -> dict[str, Callable[[], DirectionClassifier]]:
    """Return name -> factory of the naive baselines (majority, always_up, persistence).

    Args:
        horizon: Label horizon h; persistence reads the ``return_<h>`` feature.
    """
    return {
        "majority": MajorityClassBaseline,
        "always_up": AlwaysUpBaseline,
        "persistence": lambda: PersistenceBaseline(column=f"return_{horizon}"),
    }


def default_baselines(
    horizon: int, *, logistic_c: float = 1.0
) -> dict[str, Callable[[], DirectionClassifier]]:
    """Return name -> factory of the naive baselines and the logistic reference.

    Args:
        horizon: Label horizon h; persistence reads the ``return_<h>`` feature.
        logistic_c: Inverse regularisation strength of the logistic reference.
    """
    factories = naive_baselines(horizon)
    factories[REFERENCE_BASELINE] = lambda: LogisticDirectionClassifier(c=logistic_c)
    return factories


BASELINES: dict[str, type[DirectionClassifier]] = {
    cls.family: cls for cls in (MajorityClassBaseline, AlwaysUpBaseline, PersistenceBaseline)
}
"""Baseline classes by name (what ``load_estimator`` dispatches on)."""
