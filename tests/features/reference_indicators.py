"""Test reference: the 11 indicators in pandas, as mlpkg computed them before its NumPy kernels.

``mlpkg.features.indicators`` (NumPy, every row or the last n) is the one implementation the
package runs; this pandas formulation of the same definitions (``rolling``, ``ewm``, ``diff``)
stays beside ``ta`` and TA-Lib as an independent reference in ``test_indicators.py``: a kernel
that drifts from it by more than rounding is wrong. Parabolic SAR is not here: its reference is
TA-Lib's ``SAR``, bar for bar.

Every function takes candle columns as ``pd.Series`` and returns a ``pd.Series`` or
``pd.DataFrame`` on the same index. The value at row t uses only rows <= t: rolling windows look
back, exponential averages run forward (``adjust=False``). Definitions follow the ``ta`` library
(Wilder smoothing for RSI, ATR and ADX, the population standard deviation for Bollinger bands);
the differences are listed in ``docs/features.md``. Values are in price units where the
indicator is a price (moving averages, bands, Ichimoku lines).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd


def _lags(values: np.ndarray, window: int) -> Iterator[np.ndarray]:
    """Yield ``values`` shifted by 0 .. window-1 rows (NaN-padded), to reduce a window per row."""
    for lag in range(min(window, len(values))):
        yield np.concatenate([np.full(lag, np.nan), values[: len(values) - lag]])


def rolling_std(values: pd.Series, window: int, ddof: int = 0) -> pd.Series:
    """Standard deviation over the last ``window`` rows, computed window by window.

    ``ddof`` 0 gives the population deviation, 1 the sample one. Unlike pandas' running update,
    each row's result depends on its own window only, so it does not drift with the length of
    the history (a suffix of the history gives identical values), and a flat window gives
    exactly 0 (pandas can leave ~1e-9 there after a move has left the window).
    """
    centre = sma(values, window).to_numpy()
    squares = np.zeros(len(values))
    for lagged in _lags(values.to_numpy(dtype="float64"), window):
        squares += (lagged - centre) ** 2
    return pd.Series(np.sqrt(squares / (window - ddof)), index=values.index)


def safe_divide(numerator: pd.Series, denominator: pd.Series, fill: float) -> pd.Series:
    """Return ``numerator / denominator``, with ``fill`` where the denominator is exactly zero.

    NaN inputs (warm-up rows) stay NaN, so a flat window gives a neutral value instead of
    ``inf`` or NaN.
    """
    den = denominator.to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator.to_numpy(dtype="float64") / den
    values = np.where(den == 0.0, fill, ratio)
    return pd.Series(values, index=numerator.index)


def wilder_mean(values: pd.Series, window: int) -> pd.Series:
    """Wilder's running average: an EWM with ``alpha = 1 / window`` seeded by the first value."""
    return values.ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean()


def ema(values: pd.Series, span: int) -> pd.Series:
    """Exponential moving average with ``alpha = 2 / (span + 1)`` seeded by the first value."""
    return values.ewm(span=span, adjust=False, min_periods=span).mean()


def sma(values: pd.Series, window: int) -> pd.Series:
    """Simple moving average over the last ``window`` rows."""
    return values.rolling(window, min_periods=window).mean()


def rsi(close: pd.Series, window: int = 14) -> pd.Series:
    """Relative Strength Index with Wilder smoothing, in [0, 100].

    ``100 * avg_gain / (avg_gain + avg_loss)``, which equals ``100 - 100 / (1 + RS)``; 50 when
    both averages are zero (a flat window; ``ta`` gives 100 there).
    """
    change = close.diff()
    gain = wilder_mean(change.clip(lower=0.0), window)
    loss = wilder_mean(-change.clip(upper=0.0), window)
    return 100.0 * safe_divide(gain, gain + loss, fill=0.5)


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD line (EMA fast - EMA slow), its signal EMA and the histogram, in price units."""
    line = ema(close, fast) - ema(close, slow)
    signal_line = ema(line, signal)
    return pd.DataFrame(
        {"macd": line, "macd_signal": signal_line, "macd_hist": line - signal_line},
        index=close.index,
    )


def bollinger(close: pd.Series, window: int = 20, n_std: float = 2.0) -> pd.DataFrame:
    """Bollinger bands (population std, see ``rolling_std``), %B and bandwidth ``(up - low) / mid``.

    %B is ``(close - lower) / (upper - lower)`` (0.5 when the bands touch).
    """
    middle = sma(close, window)
    spread = n_std * rolling_std(close, window)
    upper, lower = middle + spread, middle - spread
    return pd.DataFrame(
        {
            "bb_middle": middle,
            "bb_upper": upper,
            "bb_lower": lower,
            "bb_percent_b": safe_divide(close - lower, upper - lower, fill=0.5),
            "bb_bandwidth": safe_divide(upper - lower, middle, fill=0.0),
        },
        index=close.index,
    )


def volume_indicators(close: pd.Series, volume: pd.Series, window: int = 20) -> pd.DataFrame:
    """Volume ratio and the stationary forms of OBV and VPT over ``window`` rows.

    ``volume_ratio`` is volume over its ``window``-row mean (1 when the mean is 0). OBV and VPT
    are cumulative sums whose level depends on where the history starts, so only their change
    over the window is kept, divided by the window's total volume: ``obv_flow`` is
    ``sum(sign(dclose) * volume) / sum(volume)`` in [-1, 1] (a tie counts 0; ``ta`` counts it
    as up), ``vpt_flow`` is ``sum(return * volume) / sum(volume)``, a volume-weighted return.
    """
    total = volume.rolling(window, min_periods=window).sum()
    change = close.diff()
    signed = np.sign(change) * volume
    weighted = close.pct_change() * volume
    return pd.DataFrame(
        {
            "volume_ratio": safe_divide(volume, total / window, fill=1.0),
            "obv_flow": safe_divide(signed.rolling(window, min_periods=window).sum(), total, 0.0),
            "vpt_flow": safe_divide(weighted.rolling(window, min_periods=window).sum(), total, 0.0),
        },
        index=close.index,
    )


def stochastic(
    high: pd.Series, low: pd.Series, close: pd.Series, window: int = 14, smooth: int = 3
) -> pd.DataFrame:
    """Stochastic oscillator: %K over ``window`` rows and %D its ``smooth``-row SMA, in [0, 100].

    %K is 50 when the window's high equals its low.
    """
    highest = high.rolling(window, min_periods=window).max()
    lowest = low.rolling(window, min_periods=window).min()
    k = 100.0 * safe_divide(close - lowest, highest - lowest, fill=0.5)
    return pd.DataFrame({"stoch_k": k, "stoch_d": sma(k, smooth)}, index=close.index)


def williams_r(high: pd.Series, low: pd.Series, close: pd.Series, window: int = 14) -> pd.Series:
    """Williams %R in [-100, 0]: ``-100 * (highest - close) / (highest - lowest)``; -50 if flat."""
    highest = high.rolling(window, min_periods=window).max()
    lowest = low.rolling(window, min_periods=window).min()
    return -100.0 * safe_divide(highest - close, highest - lowest, fill=0.5)


def _midpoint(high: pd.Series, low: pd.Series, window: int) -> pd.Series:
    highest = high.rolling(window, min_periods=window).max()
    return 0.5 * (highest + low.rolling(window, min_periods=window).min())


def ichimoku(
    high: pd.Series, low: pd.Series, conversion: int = 9, base: int = 26, span: int = 52
) -> pd.DataFrame:
    """Ichimoku lines at the current bar (no forward shift of the spans, so causal).

    Tenkan-sen and kijun-sen are the midpoints of the ``conversion`` / ``base`` windows, span A
    their mean and span B the midpoint of the ``span`` window; this is ``ta``'s
    ``visual=False``. The chikou span (the current close drawn 26 bars back) is omitted.
    """
    tenkan = _midpoint(high, low, conversion)
    kijun = _midpoint(high, low, base)
    return pd.DataFrame(
        {
            "tenkan": tenkan,
            "kijun": kijun,
            "span_a": 0.5 * (tenkan + kijun),
            "span_b": _midpoint(high, low, span),
        },
        index=high.index,
    )


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """True range ``max(high, prev_close) - min(low, prev_close)`` (``high - low`` on row 0)."""
    previous = close.shift(1).to_numpy()
    top = np.fmax(high.to_numpy(), previous)
    bottom = np.fmin(low.to_numpy(), previous)
    return pd.Series(top - bottom, index=close.index)


def adx(high: pd.Series, low: pd.Series, close: pd.Series, window: int = 14) -> pd.DataFrame:
    """Wilder's directional movement: +DI, -DI and ADX in [0, 100], plus ATR in price units.

    +DM is the rise of the high when it beats the fall of the low (else 0), -DM the reverse;
    both and the true range are Wilder-smoothed; ``DX = 100 |+DI - -DI| / (+DI + -DI)`` and ADX
    is the Wilder average of DX.
    """
    up = high.diff()
    down = -low.diff()
    plus_dm = up.where((up > down) & (up > 0.0), 0.0)
    minus_dm = down.where((down > up) & (down > 0.0), 0.0)
    atr = wilder_mean(true_range(high, low, close), window)
    plus_di = 100.0 * safe_divide(wilder_mean(plus_dm, window), atr, fill=0.0)
    minus_di = 100.0 * safe_divide(wilder_mean(minus_dm, window), atr, fill=0.0)
    dx = 100.0 * safe_divide((plus_di - minus_di).abs(), plus_di + minus_di, fill=0.0)
    return pd.DataFrame(
        {"plus_di": plus_di, "minus_di": minus_di, "adx": wilder_mean(dx, window), "atr": atr},
        index=close.index,
    )


def cci(
    high: pd.Series, low: pd.Series, close: pd.Series, window: int = 20, constant: float = 0.015
) -> pd.Series:
    """Commodity Channel Index: ``(tp - SMA(tp)) / (constant * mean |tp - SMA(tp)|)``.

    ``tp = (high + low + close) / 3``; the mean absolute deviation is taken over the window
    around the window's own mean (as ``ta`` does), one lag at a time so it stays vectorised.
    0 when the deviation is zero.
    """
    typical = (high + low + close) / 3.0
    mean = sma(typical, window)
    centre = mean.to_numpy()
    deviation = np.zeros(len(typical))
    for lagged in _lags(typical.to_numpy(dtype="float64"), window):
        deviation += np.abs(lagged - centre)
    mad = pd.Series(deviation / window, index=close.index)
    return safe_divide(typical - mean, constant * mad, fill=0.0)
