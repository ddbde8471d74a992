"""Forward-looking targets, on clock time: the only columns that use future candles.

``direction_h`` means "the close ``h`` intervals of clock time later is higher". When candles
are missing (an exchange outage, a market closure such as SPY overnight), the candle ``h`` rows
later is further away than ``h`` intervals: such a label is NaN (dropped), never stretched.
Labels are never model inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
import pandas as pd

from mlpkg.data.schema import infer_frequency
from mlpkg.errors import ConfigError


def _check_horizon(horizon: object) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, Integral) or horizon < 1:
        raise ConfigError(
            f"Label horizon {horizon!r} is invalid: use a positive whole number of candles."
        )
    return int(horizon)


def purge_rows(horizon: int, window: int) -> int:
    """Candles left out between rows that are fitted on and rows that are scored after them.

    The one place the purge is computed: ``horizon + window``. A fitted row t carries a label
    built from the close ``horizon`` candles later, and a scored row's input window reaches
    ``window - 1`` candles back, so ``horizon + window`` candles keep both inside their own
    period. It separates walk-forward folds, the development period from the holdout, and a
    model's training targets from its early-stopping validation tail. Today a candle is one
    ``interval`` of clock time; a trading calendar can make this count trading bars instead
    without touching its callers.

    Args:
        horizon: Label horizon h in candles.
        window: The largest input window (candles) any candidate of the run may read, tuned
            windows' upper bound included (1 for models without history).
    """
    return horizon + window


def make_labels(
    close: pd.Series, horizons: Sequence[int], interval: pd.Timedelta | None = None
) -> pd.DataFrame:
    """Direction and return ``h`` intervals ahead (clock time), for each horizon.

    ``direction_<h>`` is 1.0 when the close at ``open_time + h * interval`` is above the close
    at ``open_time`` and 0.0 otherwise (a tie counts as down, as in the replaced service);
    ``future_return_<h>`` is their ratio minus 1. Both are NaN when that candle does not exist:
    on the last ``h`` rows, and before every gap of missing candles it would span.

    Args:
        close: Close prices on a UTC open-time index, oldest first.
        horizons: Positive numbers of candles ahead.
        interval: The candle length; inferred from the index (most common step) when omitted.

    Returns:
        A float64 frame on ``close``'s index with ``direction_<h>`` and ``future_return_<h>``
        for each horizon, in that order.

    Raises:
        ConfigError: if a horizon is not a positive integer.
    """
    steps = [_check_horizon(h) for h in horizons]
    if interval is None:
        interval = infer_frequency(pd.DatetimeIndex(close.index)) if len(close) > 1 else None
    columns: dict[str, pd.Series] = {}
    for horizon in steps:
        if interval is None:
            future = pd.Series(np.nan, index=close.index)
        else:
            ahead = pd.DatetimeIndex(close.index) + horizon * interval
            future = pd.Series(close.reindex(ahead).to_numpy(dtype="float64"), index=close.index)
        columns[f"direction_{horizon}"] = (future > close).astype("float64").where(future.notna())
        columns[f"future_return_{horizon}"] = future / close - 1.0
    return pd.DataFrame(columns, index=close.index, dtype="float64")


def complete_windows(index: pd.DatetimeIndex, interval: pd.Timedelta, rows: int) -> np.ndarray:
    """Which rows end a run of ``rows`` consecutive candles (no missing candle inside).

    Row t is complete when ``index[t] - index[t - rows + 1] == (rows - 1) * interval``; the first
    ``rows - 1`` rows are never complete. A model whose input window ends at an incomplete row
    would read a window stretched over a gap, so such rows are not scored.

    Args:
        index: Candle open times, strictly increasing.
        interval: The candle length.
        rows: Rows per input window (1: every row is complete).
    """
    if rows < 1:
        raise ConfigError(f"A window needs at least 1 row, got {rows}.")
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    complete = np.zeros(len(stamps), dtype=bool)
    if len(stamps) >= rows:
        span = stamps[rows - 1 :] - stamps[: len(stamps) - rows + 1]
        complete[rows - 1 :] = span == (rows - 1) * pd.Timedelta(interval).value
    return complete
