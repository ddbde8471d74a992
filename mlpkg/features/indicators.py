"""The replaced service's 11 technical indicators as NumPy kernels: every row, or the last n.

Each function takes candle columns as float64 arrays (oldest first) and returns the values of
the last ``rows`` rows (every row when ``rows`` is None), NaN where a window reaches before the
first candle or an average has not yet seen its ``min_periods`` (as pandas' ``min_periods``).
Row t reads only rows <= t: trailing windows (``mlpkg.features.rolling``), exponential averages
seeded by the first value and run forward, and one forward loop (Parabolic SAR). Exponential
averages and the SAR run over all the rows given, so a serving window passes the last
``warmup_rows`` + n candles and asks for ``rows=n``.

Definitions follow the ``ta`` library (Wilder smoothing for RSI, ATR and ADX, the population
standard deviation for Bollinger bands), except Parabolic SAR, which follows Wilder's rule as
TA-Lib implements it; the differences are listed in ``docs/features.md``. The tests compare
every kernel with a pandas reference, ``ta`` and TA-Lib (``tests/features/test_indicators.py``).
Values are in price units where the indicator is a price (averages, bands, Ichimoku lines, SAR);
``mlpkg.features.columns`` turns them into scale-free features. Pure: no I/O, no SciPy.
"""

from __future__ import annotations

import math

import numpy as np

from mlpkg.features.rolling import (
    ewm,
    means,
    ratio,
    rolling_max,
    rolling_mean,
    rolling_min,
    stds,
    sums,
    tail,
    windows,
)

Arrays = dict[str, np.ndarray]


def _count(values: np.ndarray, rows: int | None) -> int:
    return len(values) if rows is None else rows


def sma(values: np.ndarray, window: int, rows: int | None = None) -> np.ndarray:
    """Simple moving average over the last ``window`` rows."""
    return rolling_mean(values, window, _count(values, rows))


def ema(values: np.ndarray, span: int, rows: int | None = None) -> np.ndarray:
    """Exponential moving average, ``alpha = 2 / (span + 1)``, seeded by the first value."""
    return tail(ewm(values, 2.0 / (span + 1), min_periods=span), _count(values, rows))


def wilder_mean(values: np.ndarray, window: int, rows: int | None = None) -> np.ndarray:
    """Wilder's running average: an EWM with ``alpha = 1 / window`` seeded by the first value."""
    return tail(ewm(values, 1.0 / window, min_periods=window), _count(values, rows))


def rsi(close: np.ndarray, window: int = 14, rows: int | None = None) -> np.ndarray:
    """Relative Strength Index with Wilder smoothing, in [0, 100].

    ``100 * avg_gain / (avg_gain + avg_loss)``, which equals ``100 - 100 / (1 + RS)``; 50 when
    both averages are zero (a flat window; ``ta`` gives 100 there). Seeded on row 1.
    """
    change = np.diff(close)
    moves = np.column_stack([np.maximum(change, 0.0), -np.minimum(change, 0.0)])
    averages = tail(ewm(moves, 1.0 / window, min_periods=window), _count(close, rows))
    gain, loss = averages[:, 0], averages[:, 1]
    return 100.0 * ratio(gain, gain + loss, 0.5)


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9, rows: int | None = None
) -> Arrays:
    """EMA fast and slow, the MACD line (their difference), its signal EMA and the histogram.

    The signal EMA is seeded on the first row where the slow EMA is defined (pandas' seed).
    """
    count = _count(close, rows)
    quick = ewm(close, 2.0 / (fast + 1), min_periods=fast)
    steady = ewm(close, 2.0 / (slow + 1), min_periods=slow)
    line = quick - steady
    signal_line = ewm(line[slow - 1 :], 2.0 / (signal + 1), min_periods=signal)
    line, signal_line = tail(line, count), tail(signal_line, count)
    return {
        "ema_fast": tail(quick, count),
        "ema_slow": tail(steady, count),
        "macd": line,
        "macd_signal": signal_line,
        "macd_hist": line - signal_line,
    }


def bollinger(
    close: np.ndarray, window: int = 20, n_std: float = 2.0, rows: int | None = None
) -> Arrays:
    """Bollinger bands (population std of each window), %B and bandwidth ``(up - low) / mid``.

    %B is ``(close - lower) / (upper - lower)`` (0.5 when the bands touch).
    """
    count = _count(close, rows)
    frames = windows(close, window, count)
    middle, spread = means(frames), n_std * stds(frames, ddof=0)
    upper, lower = middle + spread, middle - spread
    return {
        "bb_middle": middle,
        "bb_upper": upper,
        "bb_lower": lower,
        "bb_percent_b": ratio(tail(close, count) - lower, upper - lower, 0.5),
        "bb_bandwidth": ratio(upper - lower, middle, 0.0),
    }


def volume_indicators(
    close: np.ndarray, volume: np.ndarray, window: int = 20, rows: int | None = None
) -> Arrays:
    """Volume ratio and the stationary forms of OBV and VPT over ``window`` rows.

    ``volume_ratio`` is volume over its ``window``-row mean (1 when the mean is 0). OBV and VPT
    are cumulative sums whose level depends on where the history starts, so only their change
    over the window is kept, divided by the window's total volume: ``obv_flow`` is
    ``sum(sign(dclose) * volume) / sum(volume)`` in [-1, 1] (a tie counts 0; ``ta`` counts it
    as up), ``vpt_flow`` is ``sum(return * volume) / sum(volume)``, a volume-weighted return.
    """
    count = _count(close, rows)
    recent = tail(close, count + window)
    moved = tail(volume, count + window - 1)
    signed = np.sign(recent[1:] - recent[:-1]) * moved
    weighted = (recent[1:] / recent[:-1] - 1.0) * moved
    total = sums(windows(volume, window, count))
    return {
        "volume_ratio": ratio(tail(volume, count), total / window, 1.0),
        "obv_flow": ratio(sums(windows(signed, window, count)), total, 0.0),
        "vpt_flow": ratio(sums(windows(weighted, window, count)), total, 0.0),
    }


def stochastic(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    window: int = 14,
    smooth: int = 3,
    rows: int | None = None,
) -> Arrays:
    """Stochastic oscillator: %K over ``window`` rows and %D its ``smooth``-row SMA, in [0, 100].

    %K is 50 when the window's high equals its low.
    """
    count = _count(close, rows)
    longer = count + smooth - 1  # %D averages the last ``smooth`` %K values
    highest, lowest = rolling_max(high, window, longer), rolling_min(low, window, longer)
    k = 100.0 * ratio(tail(close, longer) - lowest, highest - lowest, 0.5)
    return {"stoch_k": k[smooth - 1 :], "stoch_d": rolling_mean(k, smooth, count)}


def williams_r(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int = 14, rows: int | None = None
) -> np.ndarray:
    """Williams %R in [-100, 0]: ``-100 * (highest - close) / (highest - lowest)``; -50 if flat."""
    count = _count(close, rows)
    highest, lowest = rolling_max(high, window, count), rolling_min(low, window, count)
    return -100.0 * ratio(highest - tail(close, count), highest - lowest, 0.5)


def _midpoint(high: np.ndarray, low: np.ndarray, window: int, rows: int) -> np.ndarray:
    middle: np.ndarray = 0.5 * (rolling_max(high, window, rows) + rolling_min(low, window, rows))
    return middle


def ichimoku(
    high: np.ndarray,
    low: np.ndarray,
    conversion: int = 9,
    base: int = 26,
    span: int = 52,
    rows: int | None = None,
) -> Arrays:
    """Ichimoku lines at the current bar (no forward shift of the spans, so causal).

    Tenkan-sen and kijun-sen are the midpoints of the ``conversion`` / ``base`` windows, span A
    their mean and span B the midpoint of the ``span`` window; this is ``ta``'s
    ``visual=False``. The chikou span (the current close drawn 26 bars back) is omitted.
    """
    count = _count(high, rows)
    tenkan, kijun = _midpoint(high, low, conversion, count), _midpoint(high, low, base, count)
    return {
        "tenkan": tenkan,
        "kijun": kijun,
        "span_a": 0.5 * (tenkan + kijun),
        "span_b": _midpoint(high, low, span, count),
    }


def _moves(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """``(n, 3)``: true range (``high - low`` on row 0), +DM and -DM (0 on row 0)."""
    up, down = np.diff(high), -np.diff(low)
    moves = np.zeros((len(close), 3))
    moves[:1, 0] = high[:1] - low[:1]
    moves[1:, 0] = np.maximum(high[1:], close[:-1]) - np.minimum(low[1:], close[:-1])
    moves[1:, 1] = np.where((up > down) & (up > 0.0), up, 0.0)
    moves[1:, 2] = np.where((down > up) & (down > 0.0), down, 0.0)
    return moves


def adx(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int = 14, rows: int | None = None
) -> Arrays:
    """Wilder's directional movement: +DI, -DI and ADX in [0, 100], plus ATR in price units.

    +DM is the rise of the high when it beats the fall of the low (else 0), -DM the reverse;
    both and the true range are Wilder-smoothed; ``DX = 100 |+DI - -DI| / (+DI + -DI)`` and ADX
    is the Wilder average of DX (seeded on the first row where DX is defined).
    """
    count, alpha = _count(close, rows), 1.0 / window
    smoothed = ewm(_moves(high, low, close), alpha, min_periods=window)
    atr = smoothed[:, 0]
    plus_di = 100.0 * ratio(smoothed[:, 1], atr, 0.0)
    minus_di = 100.0 * ratio(smoothed[:, 2], atr, 0.0)
    dx = 100.0 * ratio(np.abs(plus_di - minus_di), plus_di + minus_di, 0.0)
    average = ewm(dx[window - 1 :], alpha, min_periods=window)
    return {
        "plus_di": tail(plus_di, count),
        "minus_di": tail(minus_di, count),
        "adx": tail(average, count),
        "atr": tail(atr, count),
    }


def cci(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    window: int = 20,
    constant: float = 0.015,
    rows: int | None = None,
) -> np.ndarray:
    """Commodity Channel Index: ``(tp - SMA(tp)) / (constant * mean |tp - SMA(tp)|)``.

    ``tp = (high + low + close) / 3``; the mean absolute deviation is taken over the window
    around the window's own mean (as ``ta`` does). 0 when the deviation is zero.
    """
    count = _count(close, rows)
    span = count + window - 1
    typical = (tail(high, span) + tail(low, span) + tail(close, span)) / 3.0
    frames = windows(typical, window, count)
    mean = means(frames)
    deviation = sums(np.abs(frames - mean[:, None])) / window
    return ratio(typical[window - 1 :] - mean, constant * deviation, 0.0)


def _starts_down(highs: list[float], lows: list[float]) -> bool:
    """TA-Lib's first trend: down if bar 1's -DM is positive."""
    fall, rise = lows[0] - lows[1], highs[1] - highs[0]
    return fall > 0.0 and rise < fall


def parabolic_sar_values(
    high: np.ndarray, low: np.ndarray, step: float = 0.02, max_step: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parabolic SAR over arrays, following Wilder's rule exactly as TA-Lib's ``SAR`` does.

    On each bar the SAR computed at the previous bar is tested first: a low at or below it (in
    an uptrend; a high at or above it in a downtrend) reverses the trend, and the bar's SAR
    becomes the old extreme point pushed beyond the previous and current bars. Otherwise the
    extreme point and ``af`` advance. Then the next bar's SAR, ``sar + af * (ep - sar)``, is
    clamped to the lows (highs) of this bar and the previous one, *before* the next test. The
    start is TA-Lib's: bar 0 is consumed, the first trend is down only if bar 1's -DM is
    positive, the first SAR is bar 0's low (high) and the first extreme point bar 1's high
    (low); on that first step bar 1 also stands for the previous bar.

    The loop is written once, for an uptrend: in a downtrend it runs on negated prices with the
    roles of high and low swapped, which is exact in floating point.

    Args:
        high: Highs, oldest first.
        low: Lows, same length.
        step: Acceleration step and initial factor (capped at ``max_step``, as TA-Lib does).
        max_step: Largest acceleration factor.

    Returns:
        ``(sar, trend, af)`` float64 arrays of ``len(high)``: the SAR in price units, +1 / -1
        for the trend after the bar, and the acceleration factor the next SAR uses; row 0 is
        NaN in all three (its high and low only seed the first trend).
    """
    size = len(high)
    stops, signs, factors = [math.nan] * size, [math.nan] * size, [math.nan] * size
    if size > 1:
        step = min(step, max_step)
        ups = (high.tolist(), low.tolist())  # (favourable, adverse) prices in an uptrend
        downs = ((-low).tolist(), (-high).tolist())  # the same for a downtrend, negated
        sign = -1.0 if _starts_down(ups[0], ups[1]) else 1.0
        (fav, adv), (other_fav, other_adv) = (ups, downs) if sign > 0 else (downs, ups)
        stop, extreme, factor, before = adv[0], fav[1], step, adv[1]
        for i in range(1, size):
            here = adv[i]
            if here <= stop:  # penetrated: reverse at the old extreme point, beyond both bars
                sign, fav, adv, other_fav, other_adv = -sign, other_fav, other_adv, fav, adv
                before, here = adv[i - 1] if i > 1 else adv[1], adv[i]
                stop, extreme, factor = min(-extreme, before, here), fav[i], step
            elif fav[i] > extreme:
                extreme, factor = fav[i], min(factor + step, max_step)
            stops[i], signs[i], factors[i] = stop, sign, factor
            stop += factor * (extreme - stop)  # next bar's SAR, clamped to this bar and the last
            stop = before if stop > before else stop
            stop = here if stop > here else stop
            before = here
    trend = np.array(signs)
    return np.array(stops) * trend, trend, np.array(factors)
