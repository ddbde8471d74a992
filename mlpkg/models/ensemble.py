"""Ensembles of families: fixed weights, convex stacking weights, and ``EnsembleClassifier``.

Pure NumPy/SciPy: members are any mlpkg estimators, fitted and saved through their own API.

* ``weighted``: the replaced service's weighted average of its neural members with the fixed
  weights ``FIXED_WEIGHTS`` (renormalised over the members present).
* ``stacked``: weights fitted by :func:`fit_convex_weights` on out-of-fold predictions from
  the development folds. They are convex (non-negative, summing to 1) rather than the
  coefficients of a logistic meta-learner: the members' probabilities are highly correlated,
  so meta-learner coefficients are unstable (large, of opposite signs) and their output can
  leave the range [min p_i, max p_i] of the members; a convex mixture stays inside it, is
  never worse in-sample than the best member (every member is a vertex of the simplex it
  searches), and its weights read as shares.

The ensemble's confidence is ``|p - 0.5| * 2`` of the combined P(up) (``mlpkg.models.signals``);
the replaced service averaged its members' confidences instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from mlpkg.errors import ConfigError
from mlpkg.models.artifacts import corrupt, read_record, write_record
from mlpkg.models.estimator import DirectionClassifier
from mlpkg.models.mixture import MEMBERS_DIR, clip_proba, log_loss_terms
from mlpkg.models.mixture import combine as combine  # re-exported: ensemble.combine

log = logging.getLogger(__name__)

FIXED_WEIGHTS: dict[str, float] = {"lstm": 1.0, "gru": 0.9, "cnn": 0.8, "transformer": 0.7}
"""The replaced service's weights of its neural members (weighted ensemble)."""


def fixed_weights(families: Iterable[str]) -> dict[str, float]:
    """Return the fixed weights of the neural families among ``families``, summing to 1.

    Raises:
        ConfigError: if none of ``families`` has a fixed weight (no neural family).
    """
    present = {name: FIXED_WEIGHTS[name] for name in families if name in FIXED_WEIGHTS}
    if not present:
        raise ConfigError(
            f"The weighted ensemble combines the neural families {list(FIXED_WEIGHTS)}; none is "
            "among the models. Add lstm, gru, cnn or transformer to models."
        )
    total = sum(present.values())
    return {name: weight / total for name, weight in present.items()}


def fit_convex_weights(probas: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return non-negative weights summing to 1 that minimise the log loss of ``probas @ w``.

    The mixture's log loss is convex in w, so SLSQP on the simplex (from equal weights, with
    the analytic gradient) finds the global minimum; the result is compared with every
    single member and equal weights, and the best is returned, so it is never worse
    in-sample than the best member. Deterministic. Rows with a NaN member or label are skipped.

    Args:
        probas: ``(n, k)`` out-of-fold P(up) of the k members.
        y: ``(n,)`` 0/1 labels (NaN rows skipped).

    Raises:
        ConfigError: if fewer than one member or no complete row is given.
    """
    probas = np.asarray(probas, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    shaped = probas.ndim == 2 and probas.shape[1] >= 1 and len(probas) == len(y)
    keep = np.isfinite(probas).all(axis=1) & np.isfinite(y) if shaped else np.zeros(0, bool)
    if not keep.any():
        raise ConfigError(
            "Stacking weights need an (n, k) array of member probabilities (k >= 1) and n "
            "labels, with at least one row where every member and the label are finite."
        )
    p, t = probas[keep], y[keep]
    k = p.shape[1]

    def loss(w: np.ndarray) -> float:
        return float(np.mean(log_loss_terms(t, p @ w)))

    def gradient(w: np.ndarray) -> np.ndarray:
        mix = clip_proba(p @ w)
        return np.asarray(-((t / mix - (1.0 - t) / (1.0 - mix)) @ p) / len(t))

    start = np.full(k, 1.0 / k)
    result = minimize(
        loss,
        start,
        jac=gradient,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0}],
        options={"maxiter": 500, "ftol": 1e-12},
    )
    solved = np.clip(np.asarray(result.x, dtype=np.float64), 0.0, None)
    candidates = [solved / solved.sum() if solved.sum() > 0 else start, start, *np.eye(k)]
    return np.asarray(min(candidates, key=loss), dtype=np.float64)


class EnsembleClassifier(DirectionClassifier):
    """A weighted mixture of fitted members' P(up) (families ``weighted`` and ``stacked``).

    ``fit`` fits a clone of every member on the same rows; ``predict_proba`` combines their
    P(up) with the weights normalised to sum to 1 (``weights_``, in member order). Weights
    are given, not learned here: choose them with :func:`fixed_weights` or, on out-of-fold
    development predictions, :func:`fit_convex_weights`. ``context_rows`` is the largest
    member's. Learned state: ``members_`` (fitted clones), ``weights_``, ``train_rows_``;
    ``stopping_point_`` is None.

    Args:
        members: Name -> unfitted mlpkg estimator.
        weights: Name -> non-negative weight for every member; None means equal weights.
    """

    family: ClassVar[str] = "ensemble"

    def __init__(
        self, members: Mapping[str, Any], weights: Mapping[str, float] | None = None
    ) -> None:
        self.members = members
        self.weights = weights

    @property
    def context_rows(self) -> int:
        """The largest ``context_rows`` among the members."""
        return max((int(m.context_rows) for m in dict(self.members).values()), default=0)

    def _weight_vector(self) -> np.ndarray:
        names = list(self.members)
        if not names:
            raise ConfigError("An ensemble needs at least one member.")
        given = {name: 1.0 for name in names} if self.weights is None else dict(self.weights)
        if set(given) != set(names):
            raise ConfigError(
                f"Ensemble weights name {sorted(given)} but the members are {sorted(names)}; "
                "give one weight per member."
            )
        vector = np.asarray([float(given[name]) for name in names], dtype=np.float64)
        if not np.isfinite(vector).all() or (vector < 0).any() or vector.sum() <= 0:
            raise ConfigError(f"Ensemble weights must be >= 0 with a positive sum, got {given}.")
        return np.asarray(vector / vector.sum(), dtype=np.float64)

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Self:
        """Fit a clone of every member on (X, y); return self.

        Raises:
            ConfigError: if the weights do not name exactly the members or are invalid.
        """
        from sklearn.base import clone

        weights = self._weight_vector()
        fitted = {name: clone(member).fit(X, y) for name, member in self.members.items()}
        self.members_, self.weights_ = fitted, weights
        self.train_rows_ = max(int(m.train_rows_) for m in fitted.values())
        self.stopping_point_ = None
        self._set_input_state(X.columns)
        return self

    def member_proba(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Return each fitted member's P(up) per row of X (NaN where it lacks history)."""
        self._check_fitted()
        return {name: m.predict_proba(X)[:, 1] for name, m in self.members_.items()}

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        members = self.member_proba(X)
        return combine(np.column_stack(list(members.values())), self.weights_)

    def save(self, path: Path) -> None:
        """Write ``estimator.json`` (member names, weights) and ``members/<name>/`` per member.

        Raises:
            NotFittedError: before ``fit``/``load``.
        """
        self._check_fitted()
        directory = Path(path)
        for name, member in self.members_.items():
            member.save(directory / MEMBERS_DIR / name)
        names = list(self.members_)
        weights = dict(zip(names, self.weights_.tolist(), strict=True))
        state = {"members": names, "weights": weights, "train_rows": self.train_rows_}
        write_record(directory, self, state, params={"weights": weights})

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load an ensemble written by :meth:`save` (each member through ``load_estimator``).

        Raises:
            ModelLoadError: if a file is missing or corrupt, or a member's features differ.
        """
        from sklearn.base import clone

        # Members may be of any family: loaded through the loader of every saved estimator
        # (imported here, as it imports every family's module). That loader names this class
        # by import path (mlpkg.models.registry.ENSEMBLE_ESTIMATOR), so no import cycle.
        from mlpkg.models.families import load_estimator

        directory = Path(path)
        record = read_record(directory, cls.family)
        try:
            names = [str(n) for n in record.state["members"]]
            weights = {n: float(record.state["weights"][n]) for n in names}
            train_rows = int(record.state["train_rows"])
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt(directory, exc) from exc
        fitted = {name: load_estimator(directory / MEMBERS_DIR / name) for name in names}
        for name, member in fitted.items():
            if list(member.feature_names_in_) != record.feature_names:
                raise corrupt(directory, ValueError(f"member {name!r} has other features"))
        estimator = cls(members={n: clone(m) for n, m in fitted.items()}, weights=weights)
        estimator.members_, estimator.weights_ = fitted, estimator._weight_vector()
        estimator.train_rows_, estimator.stopping_point_ = train_rows, None
        estimator._set_input_state(record.feature_names)
        return estimator
