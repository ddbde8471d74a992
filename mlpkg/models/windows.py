"""Time-ordered rows as training targets and sliding windows (pure NumPy).

Row t's label ``y[t]`` is the target of the window of ``window`` rows ending at row t. A NaN
label marks a context-only row: its features may sit inside other rows' windows, but it is
never a training or validation target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlpkg.errors import ConfigError


def windows_at(values: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """Return float32 windows ``(len(ends), window, n_features)``; window k ends at ``ends[k]``.

    Args:
        values: ``(n_rows, n_features)`` time-ordered rows.
        ends: Row positions, each at least ``window - 1``.
        window: Rows per window.
    """
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)
    picked = view[np.asarray(ends, dtype=np.int64) - (window - 1)]
    return np.ascontiguousarray(picked.transpose(0, 2, 1), dtype=np.float32)


@dataclass(frozen=True)
class TargetSplit:
    """Row positions of the training targets and of the chronological validation tail."""

    train: np.ndarray
    validation: np.ndarray

    @property
    def train_rows(self) -> int:
        """Rows from the first up to the last training target (what the scaler may see)."""
        return int(self.train[-1]) + 1


def split_targets(
    target: np.ndarray, first_row: int, validation_fraction: float, purge: int
) -> TargetSplit:
    """Split the rows with a finite label chronologically into training and validation targets.

    Candidates are the rows at or after ``first_row`` (``window - 1``: the first full window)
    whose label is finite. The validation tail is the last ``ceil(validation_fraction * n)``
    of them (none when ``validation_fraction`` is 0); training targets are the candidates at
    least ``purge + 1`` rows before the first validation target, so with ``purge >= horizon``
    no training label reads a price from the validation period.

    Raises:
        ConfigError: if fewer than 2 training targets remain.
    """
    rows = np.flatnonzero(np.isfinite(target))
    rows = rows[rows >= first_row]
    if validation_fraction > 0 and len(rows) > 0:
        validation = rows[-max(1, math.ceil(validation_fraction * len(rows))) :]
        train = rows[rows < validation[0] - purge]
    else:
        validation, train = rows[:0], rows
    if len(train) < 2:
        raise ConfigError(
            f"Too few rows to fit: {len(rows)} labelled rows with a full window leave "
            f"{len(train)} for training after a validation tail of {len(validation)} and a "
            f"purge of {purge}. Provide more rows or lower window / validation_fraction."
        )
    return TargetSplit(train=train, validation=validation)
