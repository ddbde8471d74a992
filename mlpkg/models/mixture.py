"""The mixture of member probabilities: one light home for ``combine`` (NumPy only).

Also the one binary log loss of the package (``log_loss_terms``, one clip ``LOG_LOSS_EPS``):
the stacking weights minimise it and ``mlpkg.evaluation.metrics`` reports it.

Ensembles (``mlpkg.models.ensemble``), the selection on development folds and the prediction
server all combine members with this function; the server imports it without scikit-learn.
``MemberMixture`` says how much history a bundle of members reads, for the research bundle
(``mlpkg.tracking.bundle``) and the server's runtime bundle (``mlpkg.serving.runtime``) alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

MEMBERS_DIR = "members"
"""The folder of a saved ensemble or bundle that holds one sub-folder per member."""
LOG_LOSS_EPS = 1e-15
"""P(up) is clipped to ``[eps, 1 - eps]`` before the log (a certain wrong answer stays finite)."""


def clip_proba(proba_up: np.ndarray) -> np.ndarray:
    """``proba_up`` clipped to ``[LOG_LOSS_EPS, 1 - LOG_LOSS_EPS]``."""
    return np.asarray(np.clip(proba_up, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS))


def log_loss_terms(y_true: np.ndarray, proba_up: np.ndarray) -> np.ndarray:
    """Per-sample binary log loss of 0/1 labels under P(up) (clipped by ``clip_proba``)."""
    p = clip_proba(np.asarray(proba_up, dtype=np.float64))
    y = np.asarray(y_true, dtype=np.float64)
    return np.asarray(-(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def combine(probas: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the mixture P(up) ``probas @ weights`` of ``(n, k)`` member P(up) columns.

    A row where any member is NaN (no history yet) is NaN.
    """
    return np.asarray(np.asarray(probas, dtype=np.float64) @ np.asarray(weights, dtype=np.float64))


class MemberMixture:
    """The rows a bundle of members reads: a base of the registered-model bundles.

    Subclasses (frozen dataclasses) hold ``members`` (name -> member with ``context_rows``) and
    ``warmup_rows`` (feature warm-up rows).
    """

    members: Mapping[str, Any]
    warmup_rows: int

    @property
    def is_ensemble(self) -> bool:
        """Whether several members are combined."""
        return len(self.members) > 1

    @property
    def context_rows(self) -> int:
        """Rows of history before the scored row that the members read."""
        return max(int(m.context_rows) for m in self.members.values())

    @property
    def history_rows(self) -> int:
        """Candles needed to score the latest one: feature warm-up + context + the row itself."""
        return self.warmup_rows + self.context_rows + 1
