"""Features of the closures a candle crosses (markets that close: every calendar but 24/7).

Two scale-free columns, computed by ``closure_columns`` inside the feature kernels
(``mlpkg.features.columns``) for every row (``build_features``) or the last rows of a prediction
(``window_features``):

- ``closed_bars``: ``log1p`` of the intervals of clock time between the previous candle's
  interval and this candle's open (0 inside a session; about 2.9 over an equity night of
  hourly bars, 4.0 over an FX weekend);
- ``closure_return``: the return from the previous close to this open when a closure lies in
  between (the overnight or weekend move), 0 otherwise.

Row t reads only candles t - 1 and t (no look-ahead); the first row is NaN.
"""

from __future__ import annotations

import numpy as np

CLOSURE_FEATURES: tuple[str, ...] = ("closed_bars", "closure_return")


def closure_columns(
    open_: np.ndarray, close: np.ndarray, stamps_ns: np.ndarray, interval_ns: int, rows: int
) -> dict[str, np.ndarray]:
    """The closure features of the last ``rows`` candles.

    Args:
        open_: Open prices, oldest first.
        close: Close prices, same length.
        stamps_ns: Open times in UTC nanoseconds, same length.
        interval_ns: The candle interval in nanoseconds.
        rows: How many of the latest rows to return (at most the number of candles).

    Returns:
        ``closed_bars`` and ``closure_return``, float64 arrays of length ``rows``.
    """
    n = len(stamps_ns)
    start = n - rows
    skipped = np.full(rows, np.nan)
    moved = np.full(rows, np.nan)
    first = max(start, 1)
    if first < n:
        steps = np.diff(stamps_ns[first - 1 :]) / interval_ns - 1.0
        closed = np.maximum(steps, 0.0)
        jump = open_[first:] / close[first - 1 : n - 1] - 1.0
        skipped[first - start :] = np.log1p(closed)
        moved[first - start :] = np.where(closed > 0, jump, 0.0)
    return {"closed_bars": skipped, "closure_return": moved}
