"""The feature kernels: every scale-free feature of the last ``rows`` candles, in NumPy.

The one implementation of the features. ``build_features`` (``mlpkg.features.build``) calls
:func:`feature_columns` with ``rows`` = every candle to make a training matrix, and
``window_features`` (``mlpkg.features.window``) with the model's window on the last
``warmup_rows + window`` candles to serve a prediction. Columns are ratios to the close,
returns, oscillators in their natural ranges and UTC calendar cycles, so a model trained on 2017
prices applies to 2019 prices; their formulas are tabled in ``docs/features.md``. Row t reads
only candles[:t+1]. Pure: no I/O, no pandas, no SciPy (the serving process imports it).
"""

from __future__ import annotations

import math

import numpy as np

from mlpkg.config import INTERVALS, FeatureConfig
from mlpkg.features import indicators as ind
from mlpkg.features.rolling import (
    lagged,
    means,
    ratio,
    rolling_max,
    rolling_min,
    stds,
    tail,
    windows,
)
from mlpkg.features.sessions import closure_columns

WILDER_WINDOW = 14
"""RSI, ATR and ADX window; the slowest exponential smoothing (alpha = 1/14)."""
LONGEST_WINDOW = 52
"""Ichimoku span B, the longest rolling window of the indicators."""
INTERVAL_NS: dict[str, int] = {name: seconds * 1_000_000_000 for name, seconds in INTERVALS.items()}
"""Each candle interval name in nanoseconds."""
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)

Columns = dict[str, np.ndarray]


def feature_columns(
    prices: np.ndarray, stamps_ns: np.ndarray, config: FeatureConfig, rows: int
) -> Columns:
    """Compute the features of the last ``rows`` candles.

    Args:
        prices: ``(5, n)`` float64 rows ``open, high, low, close, volume``, oldest first.
        stamps_ns: The ``n`` open times in UTC nanoseconds since the epoch.
        config: Return lags, volatility windows, interval and session features.
        rows: How many of the latest rows to compute, at most ``n`` (``n``: every row). Rolling
            windows read only the rows they need; exponential averages and Parabolic SAR run
            over all ``n`` candles.

    Returns:
        The feature columns by name, in ``feature_names(config)`` order without the cross
        assets, each a float64 array of ``rows`` values; NaN where a value reaches before the
        first candle (rows inside the warm-up are not yet trustworthy: see ``warmup_rows``).
    """
    open_, high, low, close, volume = prices
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = _return_columns(close, config, rows)
        columns.update(_range_columns(open_, high, low, close, rows))
        columns.update(_trend_columns(close, rows))
        columns.update(_volume_columns(close, volume, rows))
        columns.update(_oscillator_columns(high, low, close, rows))
        columns.update(_time_columns(stamps_ns[len(stamps_ns) - rows :] // 1_000_000_000))
        if config.session_features:
            step = INTERVAL_NS[config.interval]
            columns.update(closure_columns(open_, close, stamps_ns, step, rows))
    return columns


def _return_columns(close: np.ndarray, config: FeatureConfig, rows: int) -> Columns:
    now = tail(close, rows)
    columns = {f"return_{h}": now / lagged(close, h, rows) - 1.0 for h in config.return_lookbacks}
    longest = max(config.volatility_windows)
    recent = tail(close, rows + longest)
    log_return = np.log(recent[1:] / recent[:-1])
    for window in config.volatility_windows:
        columns[f"volatility_{window}"] = stds(windows(log_return, window, rows), ddof=1)
    if len(config.volatility_windows) > 1:
        short = min(config.volatility_windows)
        columns[f"volatility_ratio_{short}_{longest}"] = ratio(
            columns[f"volatility_{short}"], columns[f"volatility_{longest}"], 1.0
        )
    return columns


def _range_columns(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, rows: int
) -> Columns:
    span = rows + 19  # the 20-row windows of the last rows
    hl_range = (tail(high, span) - tail(low, span)) / tail(close, span)
    o, h, lo, c = (tail(values, rows) for values in (open_, high, low, close))
    closes_low, closes_high = rolling_min(close, 20, rows), rolling_max(close, 20, rows)
    return {
        "hl_range": hl_range[19:],
        "hl_position": ratio(c - lo, h - lo, 0.5),
        "body": c / o - 1.0,
        "upper_shadow": (h - np.maximum(o, c)) / c,
        "lower_shadow": (np.minimum(o, c) - lo) / c,
        "gap": o / lagged(close, 1, rows) - 1.0,
        "price_position_20": ratio(c - closes_low, closes_high - closes_low, 0.5),
        "range_ratio_20": ratio(hl_range[19:], means(windows(hl_range, 20, rows)), 1.0),
        "close_to_high_20": c / rolling_max(high, 20, rows) - 1.0,
        "close_to_low_20": c / rolling_min(low, 20, rows) - 1.0,
    }


def _trend_columns(close: np.ndarray, rows: int) -> Columns:
    c = tail(close, rows)
    lines = ind.macd(close, 12, 26, 9, rows=rows)
    bands = ind.bollinger(close, 20, 2.0, rows=rows)
    fast, slow = ind.sma(close, 10, rows), ind.sma(close, 21, rows)
    return {
        "rsi_14": ind.rsi(close, WILDER_WINDOW, rows),
        "macd": lines["macd"] / c,
        "macd_signal": lines["macd_signal"] / c,
        "macd_hist": lines["macd_hist"] / c,
        "ema_12_ratio": c / lines["ema_fast"] - 1.0,
        "ema_26_ratio": c / lines["ema_slow"] - 1.0,
        "bb_percent_b": bands["bb_percent_b"],
        "bb_bandwidth": bands["bb_bandwidth"],
        "sma_10_ratio": c / fast - 1.0,
        "sma_21_ratio": c / slow - 1.0,
        "sma_10_21_spread": fast / slow - 1.0,
    }


def _volume_columns(close: np.ndarray, volume: np.ndarray, rows: int) -> Columns:
    flows = ind.volume_indicators(close, volume, 20, rows)
    means_5 = means(windows(volume, 5, rows + 5))
    return {
        "volume_ratio_20": flows["volume_ratio"],
        "volume_trend_5": ratio(means_5[5:], means_5[:-5], 1.0) - 1.0,
        "obv_flow_20": flows["obv_flow"],
        "vpt_flow_20": flows["vpt_flow"],
    }


def _oscillator_columns(high: np.ndarray, low: np.ndarray, close: np.ndarray, rows: int) -> Columns:
    c = tail(close, rows)
    stoch = ind.stochastic(high, low, close, 14, 3, rows)
    cloud = ind.ichimoku(high, low, 9, 26, 52, rows)
    directional = ind.adx(high, low, close, WILDER_WINDOW, rows)
    sar, trend, factor = (tail(v, rows) for v in ind.parabolic_sar_values(high, low, 0.02, 0.2))
    return {
        "stoch_k": stoch["stoch_k"],
        "stoch_d": stoch["stoch_d"],
        "williams_r": ind.williams_r(high, low, close, 14, rows),
        "tenkan_ratio": c / cloud["tenkan"] - 1.0,
        "kijun_ratio": c / cloud["kijun"] - 1.0,
        "span_a_ratio": c / cloud["span_a"] - 1.0,
        "span_b_ratio": c / cloud["span_b"] - 1.0,
        "cloud_thickness": (cloud["span_a"] - cloud["span_b"]) / c,
        "tenkan_kijun_spread": cloud["tenkan"] / cloud["kijun"] - 1.0,
        "adx_14": directional["adx"],
        "plus_di_14": directional["plus_di"],
        "minus_di_14": directional["minus_di"],
        "atr_14_ratio": directional["atr"] / c,
        "cci_20": ind.cci(high, low, close, 20, 0.015, rows),
        "psar_distance": (c - sar) / c,
        "psar_trend": trend,
        "psar_af": factor,
    }


def _time_columns(seconds: np.ndarray) -> Columns:
    """UTC hour and weekday cycles: hour = UTC hour + minutes / 60, day = weekday (Monday 0)."""
    of_day = seconds % 86_400
    hour = (of_day // 3_600).astype("float64") + (of_day % 3_600 // 60) / 60.0
    day = ((seconds // 86_400 + _EPOCH_WEEKDAY) % 7).astype("float64") + hour / 24.0
    return {
        "hour_sin": np.sin(math.tau * hour / 24.0),
        "hour_cos": np.cos(math.tau * hour / 24.0),
        "dow_sin": np.sin(math.tau * day / 7.0),
        "dow_cos": np.cos(math.tau * day / 7.0),
    }
