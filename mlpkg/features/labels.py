"""Forward-looking targets, on trading bars: the only columns that use future candles.

``direction_h`` means "the close ``h`` trading bars later is higher". Trading bars are counted
by the pair's calendar (``mlpkg.data.calendars``): on 24/7 every clock interval is one, while a
night, a weekend or a holiday of an exchange or FX calendar is not a gap. When a trading bar is
missing (an exchange outage, a hole in the file), the candle ``h`` rows later is further away
than ``h`` trading bars: such a label is NaN (dropped), never stretched. Labels are never model
inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
import pandas as pd

from mlpkg.data.calendars import (
    TradingCalendar,
    complete_windows_of,
    get_calendar,
    row_of_bar_ahead,
)
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
    close: pd.Series,
    horizons: Sequence[int],
    interval: pd.Timedelta | None = None,
    calendar: TradingCalendar | None = None,
) -> pd.DataFrame:
    """Direction and return ``h`` trading bars ahead, for each horizon.

    ``direction_<h>`` is 1.0 when the close ``h`` trading bars after ``open_time`` is above the
    close at ``open_time`` and 0.0 otherwise (a tie counts as down, as in the replaced service);
    ``future_return_<h>`` is their ratio minus 1. Both are NaN when that candle does not exist:
    on the last ``h`` rows, and before every missing trading bar it would span.

    Args:
        close: Close prices on a UTC open-time index, oldest first.
        horizons: Positive numbers of candles ahead.
        interval: The candle length; inferred from the index (most common step) when omitted.
        calendar: Which bars are trading bars (24/7 when omitted: every clock interval).

    Returns:
        A float64 frame on ``close``'s index with ``direction_<h>`` and ``future_return_<h>``
        for each horizon, in that order.

    Raises:
        ConfigError: if a horizon is not a positive integer.
    """
    steps = [_check_horizon(h) for h in horizons]
    if interval is None:
        interval = infer_frequency(pd.DatetimeIndex(close.index)) if len(close) > 1 else None
    ordinals = (
        np.full(len(close), np.nan)
        if interval is None
        else (calendar or get_calendar("")).bar_ordinals(pd.DatetimeIndex(close.index), interval)
    )
    prices = close.to_numpy(dtype="float64")
    columns: dict[str, pd.Series] = {}
    for horizon in steps:
        rows = row_of_bar_ahead(ordinals, horizon)
        ahead = np.where(rows >= 0, prices[np.maximum(rows, 0)], np.nan)
        future = pd.Series(ahead, index=close.index)
        columns[f"direction_{horizon}"] = (future > close).astype("float64").where(future.notna())
        columns[f"future_return_{horizon}"] = future / close - 1.0
    return pd.DataFrame(columns, index=close.index, dtype="float64")


def complete_windows(
    index: pd.DatetimeIndex,
    interval: pd.Timedelta,
    rows: int,
    calendar: TradingCalendar | None = None,
) -> np.ndarray:
    """Which rows end a run of ``rows`` consecutive trading bars (no missing bar inside).

    Row t is complete when rows ``t - rows + 1 .. t`` are ``rows - 1`` trading bars apart
    (``mlpkg.data.calendars.bars_apart``); the first ``rows - 1`` rows are never complete. A
    window over a closure is complete; one over a missing trading bar is not, and a model whose
    input window ends at an incomplete row would read it stretched over the gap, so such rows
    are not scored.

    Args:
        index: Candle open times, strictly increasing.
        interval: The candle length.
        rows: Rows per input window (1: every row is complete).
        calendar: Which bars are trading bars (24/7 when omitted).
    """
    if rows < 1:
        raise ConfigError(f"A window needs at least 1 row, got {rows}.")
    ordinals = (calendar or get_calendar("")).bar_ordinals(pd.DatetimeIndex(index), interval)
    return complete_windows_of(ordinals, rows)
