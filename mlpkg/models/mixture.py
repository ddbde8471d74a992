"""The mixture of member probabilities: one light home for ``combine`` (NumPy only).

Ensembles (``mlpkg.models.ensemble``), the selection on development folds and the prediction
server all combine members with this function; the server imports it without scikit-learn.
``MemberMixture`` says how much history a bundle of members reads, for the research bundle
(``mlpkg.tracking.bundle``) and the server's runtime bundle (``mlpkg.serving.runtime``) alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


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
