"""The mixture of member probabilities: one light home for ``combine`` (NumPy only).

Ensembles (``mlpkg.models.ensemble``), the selection on development folds and the prediction
server all combine members with this function; the server imports it without scikit-learn.
"""

from __future__ import annotations

import numpy as np


def combine(probas: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the mixture P(up) ``probas @ weights`` of ``(n, k)`` member P(up) columns.

    A row where any member is NaN (no history yet) is NaN.
    """
    return np.asarray(np.asarray(probas, dtype=np.float64) @ np.asarray(weights, dtype=np.float64))
