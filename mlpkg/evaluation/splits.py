"""Splits in time order: the development period and its walk-forward folds, then the holdout.

The newest rows are the **holdout** (``holdout_split``), a period of clock time that starts at
the pair's ledger entry (``mlpkg.tracking.ledger``; ``default_holdout_start`` places the first
one from the candle times alone): nothing that chooses (model family, hyperparameters, ensemble
weights, early stopping) sees them; the selected candidate is refit on the development period
and scored there once. The **development period** is split into
walk-forward folds (``walk_forward_splits``): consecutive test blocks at its end, expanding (or
capped) training rows before each.

Between a fold's training rows and its test block lie ``purge_rows(horizon, window)`` unused
rows (``horizon + window``), and so between the development period and the holdout.
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
from mlpkg.data.calendars import TradingCalendar, bars_before, get_calendar
from mlpkg.errors import ConfigError
from mlpkg.features.labels import purge_rows

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
    purge = purge_rows(horizon, window)
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


def default_holdout_start(times: pd.DatetimeIndex, fraction: float) -> pd.Timestamp:
    """Where a pair's holdout starts when the ledger has none: from the candle times alone.

    The first candle at or after ``first + (1 - fraction) * (last - first)``: the last
    ``fraction`` of the clock-time span. Never computed from labelled rows, so it does not move
    with the models' windows, ``--models`` or a tuned window.

    Raises:
        ConfigError: when there are fewer than two candles.
    """
    if len(times) < 2:
        raise ConfigError("Need at least two candles to place a holdout; use more candles.")
    first, last = pd.Timestamp(times[0]), pd.Timestamp(times[-1])
    cut = first + (last - first) * (1.0 - fraction)
    return pd.Timestamp(times[int(times.searchsorted(cut))])


def configured_holdout_start(times: pd.DatetimeIndex, config: HoldoutConfig) -> pd.Timestamp:
    """The holdout start a run would record: ``holdout_start``, else from the candle times."""
    if config.holdout_start:
        return pd.Timestamp(config.holdout_start)
    return default_holdout_start(times, config.holdout_fraction)


@dataclass(frozen=True)
class HoldoutSplit:
    """Development rows ``[0, dev_end)``, the purge gap, holdout rows ``[start, end)``.

    The holdout is a period of clock time: every row whose open time is at or after
    ``start_time`` (the pair's ledger entry). Development rows are those opened before
    ``dev_end_time = start_time - purge * interval`` (:func:`purge_rows`). ``end_time`` is the
    open time of the last holdout row.
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


def holdout_split(
    index: pd.DatetimeIndex,
    labelled: np.ndarray,
    start_time: pd.Timestamp,
    *,
    horizon: int,
    window: int,
    interval: pd.Timedelta,
    blocks: int = 4,
    require_holdout: bool = True,
    calendar: TradingCalendar | None = None,
) -> HoldoutSplit:
    """Split time-ordered rows at the holdout's clock-time start.

    Args:
        index: Open times of the rows (features after the warm-up).
        labelled: Which rows carry a usable label.
        start_time: The holdout's first open time (the pair's ledger entry).
        horizon: Label horizon h in candles.
        window: The largest input window any candidate of the run may read (candles).
        interval: The candle interval (one candle of clock time).
        blocks: Holdout blocks of the majority rule (the holdout needs two labelled rows each).
        require_holdout: False for commands that never score the holdout (``evaluate``,
            ``tune``): after a roll they may explore development before new candles arrive.
        calendar: The pair's trading calendar: the purge is that many of its trading bars
            (24/7 when omitted: clock time), so closures never shorten it.

    Raises:
        ConfigError: when the development period or the holdout would be empty or too short.
    """
    purge = purge_rows(horizon, window)
    start_time = pd.Timestamp(start_time)
    dev_end_time = bars_before(calendar or get_calendar(""), start_time, purge, interval)
    start = int(index.searchsorted(start_time))
    dev_end = int(index.searchsorted(dev_end_time))
    held = int(np.count_nonzero(labelled[start:]))
    dev_labelled = int(np.count_nonzero(labelled[:dev_end]))
    if dev_labelled < MIN_TRAIN_ROWS or (require_holdout and held < 2 * blocks):
        raise ConfigError(
            f"The holdout starts at {start_time} (purge {purge} candles): that leaves "
            f"{dev_labelled} labelled development rows (need {MIN_TRAIN_ROWS}+) and {held} "
            f"labelled holdout rows (need {2 * blocks}+ for {blocks} blocks) in the candles "
            f"{index[0] if len(index) else '-'} .. {index[-1] if len(index) else '-'}. Use "
            "candles that reach past the holdout start (max_rows=0, a later data_end), wait "
            "for newer candles, or move the holdout (mlpkg holdout --pair ... --start/--roll)."
        )
    return HoldoutSplit(
        dev_end=dev_end,
        start=start,
        end=len(index),
        purge=purge,
        start_time=pd.Timestamp(index[start]) if start < len(index) else start_time,
        end_time=pd.Timestamp(index[-1]),
        dev_end_time=dev_end_time,
    )


def block_labels(n_rows: int, n_blocks: int) -> np.ndarray:
    """Assign ``n_rows`` time-ordered rows to ``n_blocks`` consecutive, near-equal blocks."""
    blocks = max(1, min(n_blocks, n_rows))
    return np.minimum((np.arange(n_rows) * blocks) // max(n_rows, 1), blocks - 1)
