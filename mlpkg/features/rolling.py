"""NumPy building blocks of the feature kernels: trailing windows, lags, ratios and EWMs.

Every function returns values for the *last* ``rows`` positions of a series whose last element
is the latest row; a position whose window or lag reaches before the first element is NaN. With
``rows = len(values)`` that is every row (training), with a small ``rows`` only the latest ones
(serving): one implementation for both. Each window is reduced on its own values (no running
update), so a suffix of a history gives the same windows as the full history, and a value at
row t never reads a row after t. Pure: no I/O, no SciPy (the serving process imports this).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

EWM_BLOCK = 512
"""Most rows per block of :func:`ewm` (its cumulative sums are rescaled once per block); a
serving window's 504 candles fit in one."""
_EWM_SCALE_EXPONENT = 600.0
"""A block's values are scaled by at most ``e ** 600`` (about 1e260, far from overflow)."""


def tail(values: np.ndarray, rows: int) -> np.ndarray:
    """The last ``rows`` values along axis 0, NaN-padded at the front when there are fewer."""
    if len(values) >= rows:
        return values[len(values) - rows :]
    padding = np.full((rows - len(values), *values.shape[1:]), np.nan)
    return np.concatenate([padding, values])


def lagged(values: np.ndarray, lag: int, rows: int) -> np.ndarray:
    """``values[t - lag]`` for each of the last ``rows`` positions t (NaN before the start)."""
    return tail(values[: max(len(values) - lag, 0)], rows)


def windows(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    """``(rows, window)``: the trailing ``window`` values of each of the last ``rows`` positions.

    A read-only strided view over the trailing span (copied once only if it is not contiguous),
    so no window is materialised.
    """
    span = np.ascontiguousarray(tail(values, rows + window - 1), dtype="float64")
    step = span.itemsize
    view = np.ndarray((rows, window), dtype=span.dtype, buffer=span, strides=(step, step))
    view.flags.writeable = False
    return view


def _extreme(values: np.ndarray, window: int, rows: int, pick: np.ufunc) -> np.ndarray:
    """``pick`` (maximum or minimum) over each trailing window; exact whatever the order.

    Many rows: one pass per lag over contiguous columns (several times faster than reducing
    short rows); a few rows: one reduction. Both give the same values (no rounding).
    """
    frames = windows(values, window, rows)
    if rows < 4 * window:
        picked: np.ndarray = pick.reduce(frames, axis=1)
        return picked
    result = frames[:, 0].copy()
    for lag in range(1, window):
        pick(result, frames[:, lag], out=result)
    return result


def rolling_max(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    """Largest of the last ``window`` values, at each of the last ``rows`` positions."""
    return _extreme(values, window, rows, np.maximum)


def rolling_min(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    """Smallest of the last ``window`` values, at each of the last ``rows`` positions."""
    return _extreme(values, window, rows, np.minimum)


def sums(frames: np.ndarray) -> np.ndarray:
    """Row sums of a ``(rows, window)`` array of windows."""
    total: np.ndarray = np.add.reduce(frames, axis=1)
    return total


def means(frames: np.ndarray) -> np.ndarray:
    """Row means, taken around each window's first value so a flat window gives it exactly."""
    first = frames[:, 0]
    mean: np.ndarray = first + sums(frames - first[:, None]) / frames.shape[1]
    return mean


def stds(frames: np.ndarray, ddof: int = 0) -> np.ndarray:
    """Row standard deviations (``ddof`` 0: population, 1: sample); exactly 0 when flat."""
    deviations = frames - means(frames)[:, None]
    std: np.ndarray = np.sqrt(sums(deviations * deviations) / (frames.shape[1] - ddof))
    return std


def rolling_mean(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    """Mean of the last ``window`` values (an SMA), at each of the last ``rows`` positions."""
    return means(windows(values, window, rows))


def ratio(numerator: np.ndarray, denominator: np.ndarray, fill: float) -> np.ndarray:
    """``numerator / denominator``, ``fill`` where the denominator is exactly 0 (NaN stays NaN).

    A flat window thus gives a neutral value instead of ``inf`` or NaN (and no warning).
    """
    quotient = np.full(denominator.shape, fill)
    np.divide(numerator, denominator, out=quotient, where=denominator != 0.0)
    return quotient


def ewm(values: np.ndarray, alpha: float, min_periods: int = 1) -> np.ndarray:
    """Exponential average along axis 0 seeded by the first row: ``pandas.ewm(adjust=False)``.

    ``y[0] = x[0]``, ``y[t] = (1 - alpha) y[t-1] + alpha x[t]``; the first ``min_periods - 1``
    rows are NaN, as pandas' ``min_periods``. The recursion is evaluated in blocks of
    :data:`EWM_BLOCK` rows anchored at the first row: inside a block it is a cumulative sum of
    rescaled values (vectorised), and only the carry from block to block is a Python loop
    (one step per block). Row t depends only on rows <= t, bit for bit, whatever follows.
    Values agree with the plain recursion to about ``1e-15 * max|x| / alpha``.

    Args:
        values: ``(n,)`` or ``(n, k)`` float64 (``k`` series smoothed at once).
        alpha: Smoothing factor in (0, 1].
        min_periods: Rows from the seed before the average is reported.

    Returns:
        The smoothed values, same shape.
    """
    series = values.reshape(len(values), int(np.prod(values.shape[1:])))
    size = len(series)
    smoothed = np.empty_like(series, dtype="float64")
    if size:
        smoothed[0] = series[0]
        _ewm_blocks(series[1:], alpha, smoothed[1:], series[0])
    if min_periods > 1:
        smoothed[: min_periods - 1] = np.nan
    return smoothed.reshape(values.shape)


@lru_cache(maxsize=32)
def _block_powers(alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``(1 - alpha) ** (j + 1)`` and ``alpha / (1 - alpha) ** (j + 1)`` for the rows j of a block.

    The block is :data:`EWM_BLOCK` rows, fewer for a large ``alpha`` (fast decay) so that the
    rescaled values stay far from overflow; a fixed length per ``alpha``, so the blocks of a
    history and of its prefixes coincide.
    """
    decay = 1.0 - alpha
    rows = max(1, min(EWM_BLOCK, int(_EWM_SCALE_EXPONENT / -math.log(decay))))
    power = decay ** np.arange(1, rows + 1)
    scale = alpha / power
    power.flags.writeable = scale.flags.writeable = False  # shared by every call
    return power, scale


def _ewm_blocks(values: np.ndarray, alpha: float, out: np.ndarray, seed: np.ndarray) -> None:
    """Write into ``out`` the recursion over ``values`` that starts from ``seed``."""
    size, width = values.shape
    if size == 0:
        return
    if alpha >= 1.0:  # no memory
        out[:] = values
        return
    power, scale = _block_powers(alpha)
    block = len(power)
    if size <= block:  # one block (a serving window): the same operations, without padding
        within = values * scale[:size, None]
        np.cumsum(within, axis=0, out=within)
        within += seed
        np.multiply(within, power[:size, None], out=out)
        return
    count = -(-size // block)
    sums = np.zeros((count, block, width))
    flat = sums.reshape(count * block, width)
    flat[:size] = values
    sums *= scale[:, None]
    np.cumsum(sums, axis=1, out=sums)  # y[j] = power[j] * (carry + sums[j]) inside a block
    carry = seed
    for index in range(count):  # the carry from block to block: one step per block
        sums[index] += carry
        carry = power[-1] * sums[index, -1]
    sums *= power[:, None]
    out[:] = flat[:size]
