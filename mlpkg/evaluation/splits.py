"""Splits in time order: the development period and its walk-forward folds, then the holdout.

The newest rows are the **holdout** (``holdout_split``): nothing that chooses (model family,
hyperparameters, ensemble weights, early stopping) sees them; the selected candidate is refit
on the development period and scored there once. The **development period** is split into
walk-forward folds (``walk_forward_splits``): consecutive test blocks at its end, expanding (or
capped) training rows before each.

Between a fold's training rows and its test block lie ``purge = horizon + window`` unused rows.
A training row t carries a label built from close[t + horizon], so ``train_end + horizon <=
test_start`` is what keeps test-period prices out of training labels; the extra ``window`` rows
also keep the model's input windows for the first test rows clear of training-label prices.
The purged rows may still serve as features-only context for the first test windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlpkg.config import HoldoutConfig, WalkForwardConfig
from mlpkg.errors import ConfigError

MIN_TRAIN_ROWS = 50
"""Fewest training rows a fold may have (the LSTM also needs more than ``2 * window``)."""


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold as half-open row positions.

    Training rows are ``[train_start, train_end)``, test rows ``[test_start, test_end)``, and
    ``purge`` unused rows lie in between.
    """

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int
    purge: int

    @property
    def train_rows(self) -> int:
        """Number of training rows."""
        return self.train_end - self.train_start

    @property
    def test_rows(self) -> int:
        """Number of test rows."""
        return self.test_end - self.test_start


def _min_train_rows(window: int) -> int:
    return max(MIN_TRAIN_ROWS, 2 * window + 1)


def _rows_needed(config: WalkForwardConfig, purge: int, min_train: int) -> int:
    """Smallest N such that every row count >= N gives valid folds.

    Any n with ``n * (1 - n_folds * test_fraction) >= min_train + purge`` and
    ``n * test_fraction >= 1`` fits, since the test blocks take at most ``n * n_folds *
    test_fraction`` rows; below that, rounding of the block size can make n fit and n + 1 fail,
    so scan down from that bound to the first count that fails.
    """
    n = math.ceil((min_train + purge) / (1.0 - config.n_folds * config.test_fraction))
    n = max(n, math.ceil(1.0 / config.test_fraction))
    while n > 1 and _fits(n - 1, config, purge, min_train):
        n -= 1
    return n


def _fits(n_rows: int, config: WalkForwardConfig, purge: int, min_train: int) -> bool:
    test_size = int(n_rows * config.test_fraction)
    return test_size >= 1 and n_rows - config.n_folds * test_size - purge >= min_train


def walk_forward_splits(
    n_rows: int, config: WalkForwardConfig, *, horizon: int, window: int
) -> list[Fold]:
    """Return the folds of a walk-forward evaluation over ``n_rows`` time-ordered rows.

    The last ``n_folds`` blocks of ``floor(n_rows * test_fraction)`` rows are the test blocks,
    oldest first, ending at ``n_rows``; fold k trains on the rows before its block minus the
    purge gap (all of them, or the last ``max_train_rows`` when that is set).

    Args:
        n_rows: Rows of the (labelled, NaN-free) feature matrix.
        config: Number of folds, test share, training cap.
        horizon: Label horizon h in rows.
        window: Model input window in rows (1 for models without history).

    Raises:
        ConfigError: if the rows are too few (the message says how many are needed) or the
            configuration leaves no room for training.
    """
    if config.n_folds * config.test_fraction >= 1.0:
        raise ConfigError(
            f"n_folds * test_fraction = {config.n_folds * config.test_fraction:g} leaves no "
            "training rows; lower n_folds or test_fraction."
        )
    purge = horizon + window
    min_train = _min_train_rows(window)
    if 0 < config.max_train_rows < min_train:
        raise ConfigError(
            f"max_train_rows={config.max_train_rows} is below the {min_train} training rows a "
            f"fold needs with window={window}; raise it or set 0 (expanding window)."
        )
    if not _fits(n_rows, config, purge, min_train):
        needed = _rows_needed(config, purge, min_train)
        raise ConfigError(
            f"Too few rows for walk-forward: {n_rows} given, at least {needed} needed for "
            f"n_folds={config.n_folds}, test_fraction={config.test_fraction}, horizon={horizon}, "
            f"window={window}. Use more candles (max_rows=0), fewer folds or a smaller window."
        )
    test_size = int(n_rows * config.test_fraction)
    folds = []
    for k in range(config.n_folds):
        test_start = n_rows - (config.n_folds - k) * test_size
        train_end = test_start - purge
        train_start = 0
        if config.max_train_rows:
            train_start = max(0, train_end - config.max_train_rows)
        folds.append(Fold(k, train_start, train_end, test_start, test_start + test_size, purge))
    return folds


@dataclass(frozen=True)
class HoldoutSplit:
    """Development rows ``[0, dev_end)``, ``purge`` unused rows, holdout rows ``[start, end)``.

    A development row t carries a label built from the close ``horizon`` candles later, and a
    holdout row's input window reaches ``context`` rows back: ``purge = horizon + context + 1``
    keeps both inside their own period. ``dev_end_time`` is the open time of the first row
    that is not development data, ``start_time``/``end_time`` those of the first and last
    holdout rows.
    """

    dev_end: int
    start: int
    end: int
    purge: int
    start_time: pd.Timestamp
    end_time: pd.Timestamp
    dev_end_time: pd.Timestamp

    @property
    def dev_rows(self) -> int:
        """Number of development rows."""
        return self.dev_end

    @property
    def rows(self) -> int:
        """Number of holdout rows (labelled or not)."""
        return self.end - self.start


def _holdout_start(index: pd.DatetimeIndex, labelled: np.ndarray, config: HoldoutConfig) -> int:
    if config.holdout_start:
        start = int(index.searchsorted(pd.Timestamp(config.holdout_start)))
        if start >= len(index):
            raise ConfigError(
                f"holdout_start {config.holdout_start} is after the last row ({index[-1]}): "
                "choose an earlier date or use holdout_fraction."
            )
        return start
    positions = np.flatnonzero(labelled)
    count = max(1, math.ceil(config.holdout_fraction * len(positions)))
    return int(positions[-count]) if len(positions) else len(index)


def holdout_split(
    index: pd.DatetimeIndex,
    labelled: np.ndarray,
    config: HoldoutConfig,
    *,
    horizon: int,
    context: int,
) -> HoldoutSplit:
    """Split time-ordered rows into the development period and the holdout at the end.

    Args:
        index: Open times of the rows (features after the warm-up).
        labelled: Which rows carry a usable label (the holdout share counts these).
        config: ``holdout_fraction`` of the labelled rows, or everything from ``holdout_start``.
        horizon: Label horizon h in rows.
        context: Rows of history the models read before a scored row (``window - 1``).

    Raises:
        ConfigError: when the development period or the holdout would be empty or too short.
    """
    start = _holdout_start(index, labelled, config)
    purge = horizon + context + 1
    dev_end = start - purge
    held = int(np.count_nonzero(labelled[start:]))
    if dev_end < MIN_TRAIN_ROWS or held < 2 * config.holdout_blocks:
        raise ConfigError(
            f"Cannot hold out rows {start}..{len(index)} of {len(index)}: that leaves "
            f"{max(dev_end, 0)} development rows (need {MIN_TRAIN_ROWS}+) and {held} labelled "
            f"holdout rows (need {2 * config.holdout_blocks}+ for {config.holdout_blocks} blocks). "
            "Use more candles, or change holdout_fraction / holdout_start / holdout_blocks."
        )
    return HoldoutSplit(
        dev_end=dev_end,
        start=start,
        end=len(index),
        purge=purge,
        start_time=pd.Timestamp(index[start]),
        end_time=pd.Timestamp(index[-1]),
        dev_end_time=pd.Timestamp(index[dev_end]),
    )


def block_labels(n_rows: int, n_blocks: int) -> np.ndarray:
    """Assign ``n_rows`` time-ordered rows to ``n_blocks`` consecutive, near-equal blocks."""
    blocks = max(1, min(n_blocks, n_rows))
    return np.minimum((np.arange(n_rows) * blocks) // max(n_rows, 1), blocks - 1)
