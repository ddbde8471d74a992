"""Permutation importance: how much the log loss rises when one feature's values are shuffled.

It is measured per family on development data only: the family's model fitted on the last
development fold, scored on (at most ``rows``) of that fold's test rows. Shuffling a column
over the scored rows and the context rows before them breaks its link with the label (and,
for sequence models, its ordering inside each window); the importance is the mean increase in
log loss over ``repeats`` shuffles. Our own code rather than ``sklearn.inspection``: windowed
models score row t from the rows before it, which sklearn's tabular routine cannot express.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpkg.evaluation.metrics import log_losses
from mlpkg.models import DirectionEstimator


def _loss(model: DirectionEstimator, X: pd.DataFrame, y: np.ndarray, offset: int) -> float:
    p_up = np.asarray(model.predict_proba(X)[:, 1], dtype=np.float64)[offset:]
    labelled = ~np.isnan(y)
    return float(log_losses(y[labelled], p_up[labelled]).mean())


def permutation_importance(
    model: DirectionEstimator,
    X: pd.DataFrame,
    y: pd.Series,
    scored: tuple[int, int],
    *,
    seed: int,
    repeats: int = 1,
    rows: int = 500,
) -> pd.Series:
    """Mean increase in log loss per shuffled feature (largest first).

    Args:
        model: A fitted estimator.
        X: Feature rows (the model reads ``context_rows`` rows before the scored ones).
        y: Labels aligned with X (NaN rows are not scored).
        scored: Half-open row range to score; only its last ``rows`` rows are used.
        seed: Seed of the shuffles.
        repeats: Shuffles per feature.
        rows: Most scored rows (the newest ones).

    Returns:
        Feature name -> mean increase in log loss (nats), sorted descending.
    """
    start = max(scored[0], scored[1] - rows)
    first = max(0, start - model.context_rows)
    frame = X.iloc[first : scored[1]]
    target = y.to_numpy(dtype=np.float64)[start : scored[1]]
    offset = start - first
    base = _loss(model, frame, target, offset)
    rng = np.random.default_rng(seed)
    increases = {}
    for column in frame.columns:
        losses = []
        for _ in range(repeats):
            shuffled = frame.copy()
            shuffled[column] = rng.permutation(frame[column].to_numpy())
            losses.append(_loss(model, shuffled, target, offset) - base)
        increases[str(column)] = float(np.mean(losses))
    return pd.Series(increases, name="log_loss_increase").sort_values(ascending=False)
