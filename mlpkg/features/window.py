"""The last feature rows of a candle history, in numpy: the serving hot path.

``build_features`` computes every feature for every candle with pandas, a fixed ~12 ms even on
the 504 candles a prediction needs. ``window_features`` computes only the last ``rows`` rows,
from the last ``warmup_rows(config) + rows`` candles, with the same formulas: rolling windows
are reduced over ``(rows, window)`` gathers of just the rows they need, exponential averages run
over the whole suffix with ``scipy.signal.lfilter`` (seeded where pandas seeds them), and
Parabolic SAR runs the same loop as ``build_features`` over the suffix. Its rows equal
``build_features`` on the same candles to rounding, in ``feature_names(config)`` order
(``tests/features/test_window.py``). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from numbers import Integral

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from mlpkg.config import FeatureConfig
from mlpkg.data.schema import CANDLE_COLUMNS
from mlpkg.errors import CandleValidationError, ConfigError
from mlpkg.features.build import INTERVAL_NS, WILDER_WINDOW, warmup_rows
from mlpkg.features.cross_asset import check_window_references, cross_asset_values
from mlpkg.features.indicators import parabolic_sar_values
from mlpkg.features.sessions import closure_columns

_WILDER = 1.0 / WILDER_WINDOW
_SECONDS_PER_TICK = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)

Columns = dict[str, np.ndarray]


def window_features(
    candles: pd.DataFrame | np.ndarray,
    config: FeatureConfig,
    rows: int,
    open_time: pd.DatetimeIndex | None = None,
    references: Mapping[str, pd.DataFrame] | None = None,
) -> np.ndarray:
    """Compute the last ``rows`` rows of ``build_features`` from the last candles only.

    Args:
        candles: A candle frame (``open, high, low, close, volume`` on a time-zone-aware
            ``DatetimeIndex``), or a ``(n, 5)`` array of those columns in that order; oldest
            first. Only the last ``warmup_rows(config) + rows`` candles are read.
        config: Which return lags and volatility windows to include.
        rows: How many of the latest feature rows to return (the model's window).
        open_time: The candles' open times when ``candles`` is an array (a time-zone-aware
            ``DatetimeIndex``); a frame carries them in its index.
        references: Candle frames by pair for ``config.cross_assets`` (one window each: the
            closes at the last ``rows + CROSS_LOOKBACK`` open times are read).

    Returns:
        A float64 array of shape ``(rows, len(feature_names(config)))``, columns in
        ``feature_names(config)`` order, equal to ``build_features(candles, config)`` on its
        last ``rows`` rows to rounding (and to the full-history features within 1e-9 on the
        shipped candles).

    Raises:
        ConfigError: if ``rows`` is not a positive integer, or ``open_time`` is missing for
            an array (or given with a frame).
        CandleValidationError: if fewer than ``warmup_rows(config) + rows`` candles are given,
            a column is missing, the open times are not time-zone aware, or a reference
            candle the cross-asset features read is missing.
    """
    if isinstance(rows, bool) or not isinstance(rows, Integral) or rows < 1:
        raise ConfigError(f"rows={rows!r} is invalid: ask for a positive number of feature rows.")
    rows = int(rows)
    needed = warmup_rows(config) + rows
    prices, index = _last_candles(candles, open_time, needed)
    if prices.shape[1] < needed:
        raise CandleValidationError(
            f"window_features needs at least {needed} candles for {rows} feature rows "
            f"({needed - rows} warm-up candles + {rows}), got {prices.shape[1]}: pass a longer "
            f"history (the last {needed} candles are enough) or ask for fewer rows."
        )
    open_, high, low, close, volume = prices
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = _return_columns(close, config, rows)
        columns.update(_range_columns(open_, high, low, close, rows))
        columns.update(_trend_columns(close, rows))
        columns.update(_volume_columns(close, volume, rows))
        columns.update(_oscillator_columns(high, low, close, rows))
        columns.update(_time_columns(_utc_seconds(index, rows)))
        if config.session_features:
            stamps = pd.DatetimeIndex(index).as_unit("ns").asi8[-prices.shape[1] :]
            step = INTERVAL_NS[config.interval]
            columns.update(closure_columns(open_, close, stamps, step, rows))
    values = np.array(list(columns.values())).T.copy()
    if config.cross_assets:
        return _with_cross_assets(values, pd.DatetimeIndex(index), references or {}, config)
    return values


def _with_cross_assets(
    values: np.ndarray,
    index: pd.DatetimeIndex,
    references: Mapping[str, pd.DataFrame],
    config: FeatureConfig,
) -> np.ndarray:
    """Append the cross-asset columns of the last rows; refuse a window with a reference gap."""
    cross = cross_asset_values(index, references, config, rows=len(values))
    check_window_references(index, cross, config)
    return np.hstack([values, cross])


def _last_candles(
    candles: pd.DataFrame | np.ndarray, open_time: pd.DatetimeIndex | None, needed: int
) -> tuple[np.ndarray, pd.Index]:
    """The last ``needed`` (or fewer) candles as a ``(5, n)`` float64 array, and the open times."""
    if isinstance(candles, pd.DataFrame):
        missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
        if missing:
            raise CandleValidationError(
                f"Candles lack the columns {missing}: window_features needs "
                f"{list(CANDLE_COLUMNS)}. Load them with mlpkg.data.sources.load_candles."
            )
        if open_time is not None:
            raise ConfigError("open_time is for array candles: a frame's open times are its index.")
        if candles.columns.tolist() != list(CANDLE_COLUMNS):
            candles = candles[list(CANDLE_COLUMNS)]
        prices = candles.to_numpy(dtype="float64")  # one block: a view, no copy
        return prices[-needed:].T, candles.index
    prices = np.asarray(candles, dtype="float64")
    if prices.ndim != 2 or prices.shape[1] != len(CANDLE_COLUMNS):
        raise CandleValidationError(
            f"Array candles must have shape (n, 5), columns {list(CANDLE_COLUMNS)} in that "
            f"order; got shape {prices.shape}."
        )
    if open_time is None:
        raise ConfigError(
            "Array candles need their open times: pass open_time=<tz-aware DatetimeIndex>."
        )
    if len(open_time) != len(prices):
        raise CandleValidationError(
            f"{len(prices)} candles but {len(open_time)} open times: pass one per candle."
        )
    return prices[-needed:].T, open_time


def _utc_seconds(index: pd.Index, rows: int) -> np.ndarray:
    """Whole UTC seconds since the epoch of the last ``rows`` open times."""
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise CandleValidationError(
            "Candles need time-zone-aware open times for the time features; localise them "
            "with tz_localize('UTC') if they are UTC."
        )
    ticks = index.asi8[-rows:]  # UTC ticks whatever the displayed zone
    seconds: np.ndarray = ticks // _SECONDS_PER_TICK[index.unit]
    return seconds


@lru_cache(maxsize=64)
def _offsets(window: int, rows: int) -> np.ndarray:
    """Positions of ``rows`` consecutive ``window``-long windows in an array of their span."""
    offsets: np.ndarray = np.arange(rows)[:, None] + np.arange(window)
    offsets.flags.writeable = False  # shared by every call
    return offsets


def _windows(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    """``(rows, window)``: the trailing ``window`` values of each of the last ``rows`` rows.

    A gather with cached positions: on windows this small it is several times faster than a
    ``sliding_window_view`` and the reductions that follow run on contiguous rows.
    """
    windows: np.ndarray = values[len(values) - rows - window + 1 :][_offsets(window, rows)]
    return windows


def _rolling_max(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    highest: np.ndarray = np.maximum.reduce(_windows(values, window, rows), axis=1)
    return highest


def _rolling_min(values: np.ndarray, window: int, rows: int) -> np.ndarray:
    lowest: np.ndarray = np.minimum.reduce(_windows(values, window, rows), axis=1)
    return lowest


def _sums(windows: np.ndarray) -> np.ndarray:
    sums: np.ndarray = np.add.reduce(windows, axis=1)
    return sums


def _means(windows: np.ndarray) -> np.ndarray:
    """Row means, taken around each window's first value so a flat window gives it exactly."""
    first = windows[:, 0]
    means: np.ndarray = first + _sums(windows - first[:, None]) / windows.shape[1]
    return means


def _stds(windows: np.ndarray, ddof: int) -> np.ndarray:
    """Row standard deviations (``ddof`` 0: population, 1: sample); 0 for a flat window."""
    deviations = windows - _means(windows)[:, None]
    stds: np.ndarray = np.sqrt(_sums(deviations * deviations) / (windows.shape[1] - ddof))
    return stds


def _ratio(numerator: np.ndarray, denominator: np.ndarray, fill: float) -> np.ndarray:
    """``numerator / denominator`` with ``fill`` where the denominator is 0 (as ``safe_divide``)."""
    ratio: np.ndarray = np.where(denominator == 0.0, fill, numerator / denominator)
    return ratio


def _ewm(values: np.ndarray, alpha: float) -> np.ndarray:
    """``adjust=False`` EWMs along axis 0 seeded by the first row, as ``pandas.ewm`` computes."""
    smoothed = np.empty_like(values)
    smoothed[0] = values[0]
    initial = ((1.0 - alpha) * values[:1]).reshape((1, *values.shape[1:]))
    smoothed[1:] = lfilter([alpha], [1.0, alpha - 1.0], values[1:], axis=0, zi=initial)[0]
    return smoothed


def _return_columns(close: np.ndarray, config: FeatureConfig, rows: int) -> Columns:
    size, now = len(close), close[-rows:]
    columns = {
        f"return_{h}": now / close[size - rows - h : size - h] - 1.0
        for h in config.return_lookbacks
    }
    longest = max(config.volatility_windows)
    recent = close[size - rows - longest :]
    log_return = np.log(recent[1:] / recent[:-1])
    for window in config.volatility_windows:
        columns[f"volatility_{window}"] = _stds(_windows(log_return, window, rows), ddof=1)
    if len(config.volatility_windows) > 1:
        short, long = min(config.volatility_windows), longest
        columns[f"volatility_ratio_{short}_{long}"] = _ratio(
            columns[f"volatility_{short}"], columns[f"volatility_{long}"], 1.0
        )
    return columns


def _range_columns(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, rows: int
) -> Columns:
    start = len(close) - rows - 19  # the 20-row windows of the last rows
    hl_range = (high[start:] - low[start:]) / close[start:]
    o, h, lo, c = open_[-rows:], high[-rows:], low[-rows:], close[-rows:]
    closes_low, closes_high = _rolling_min(close, 20, rows), _rolling_max(close, 20, rows)
    return {
        "hl_range": hl_range[-rows:],
        "hl_position": _ratio(c - lo, h - lo, 0.5),
        "body": c / o - 1.0,
        "upper_shadow": (h - np.maximum(o, c)) / c,
        "lower_shadow": (np.minimum(o, c) - lo) / c,
        "gap": o / close[-rows - 1 : -1] - 1.0,
        "price_position_20": _ratio(c - closes_low, closes_high - closes_low, 0.5),
        "range_ratio_20": _ratio(hl_range[-rows:], _means(_windows(hl_range, 20, rows)), 1.0),
        "close_to_high_20": c / _rolling_max(high, 20, rows) - 1.0,
        "close_to_low_20": c / _rolling_min(low, 20, rows) - 1.0,
    }


def _macd_lines(close: np.ndarray, rows: int) -> tuple[np.ndarray, ...]:
    """EMA 12, EMA 26, the MACD line and its signal on the last ``rows`` rows (pandas' seeds)."""
    fast, slow = _ewm(close, 2.0 / 13.0), _ewm(close, 2.0 / 27.0)
    line = fast - slow
    signal = _ewm(line[25:], 2.0 / 10.0)  # the line starts once EMA 26 has 26 rows
    return fast[-rows:], slow[-rows:], line[-rows:], signal[-rows:]


def _trend_columns(close: np.ndarray, rows: int) -> Columns:
    change = np.diff(close)
    gains = _ewm(np.column_stack([np.maximum(change, 0.0), -np.minimum(change, 0.0)]), _WILDER)
    gain, loss = gains[-rows:, 0], gains[-rows:, 1]
    fast, slow, line, signal = _macd_lines(close, rows)
    c = close[-rows:]
    bands = _windows(close, 20, rows)
    middle, spread = _means(bands), 2.0 * _stds(bands, ddof=0)
    upper, lower = middle + spread, middle - spread
    sma_10, sma_21 = _means(_windows(close, 10, rows)), _means(_windows(close, 21, rows))
    return {
        "rsi_14": 100.0 * _ratio(gain, gain + loss, 0.5),
        "macd": line / c,
        "macd_signal": signal / c,
        "macd_hist": (line - signal) / c,
        "ema_12_ratio": c / fast - 1.0,
        "ema_26_ratio": c / slow - 1.0,
        "bb_percent_b": _ratio(c - lower, upper - lower, 0.5),
        "bb_bandwidth": _ratio(upper - lower, middle, 0.0),
        "sma_10_ratio": c / sma_10 - 1.0,
        "sma_21_ratio": c / sma_21 - 1.0,
        "sma_10_21_spread": sma_10 / sma_21 - 1.0,
    }


def _volume_columns(close: np.ndarray, volume: np.ndarray, rows: int) -> Columns:
    start = len(close) - rows - 20  # one row before the 20-row windows, for the changes
    recent = close[start:]
    moved = volume[start + 1 :]
    signed = np.sign(recent[1:] - recent[:-1]) * moved
    weighted = (recent[1:] / recent[:-1] - 1.0) * moved
    total = _sums(_windows(volume, 20, rows))
    means_5 = _means(_windows(volume, 5, rows + 5))
    return {
        "volume_ratio_20": _ratio(volume[-rows:], total / 20, 1.0),
        "volume_trend_5": _ratio(means_5[5:], means_5[:-5], 1.0) - 1.0,
        "obv_flow_20": _ratio(_sums(_windows(signed, 20, rows)), total, 0.0),
        "vpt_flow_20": _ratio(_sums(_windows(weighted, 20, rows)), total, 0.0),
    }


def _directional(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, rows: int
) -> tuple[np.ndarray, ...]:
    """+DI, -DI, ADX and ATR (Wilder, 14) on the last ``rows`` rows, seeded as pandas'."""
    up, down = np.diff(high), -np.diff(low)
    moves = np.zeros((len(close), 3))
    moves[0, 0] = high[0] - low[0]
    moves[1:, 0] = np.maximum(high[1:], close[:-1]) - np.minimum(low[1:], close[:-1])
    moves[1:, 1] = np.where((up > down) & (up > 0.0), up, 0.0)
    moves[1:, 2] = np.where((down > up) & (down > 0.0), down, 0.0)
    smoothed = _ewm(moves, _WILDER)[WILDER_WINDOW - 1 :]  # defined from row 13
    atr = smoothed[:, 0]
    plus_di = 100.0 * _ratio(smoothed[:, 1], atr, 0.0)
    minus_di = 100.0 * _ratio(smoothed[:, 2], atr, 0.0)
    dx = 100.0 * _ratio(np.abs(plus_di - minus_di), plus_di + minus_di, 0.0)
    adx = _ewm(dx, _WILDER)
    return plus_di[-rows:], minus_di[-rows:], adx[-rows:], atr[-rows:]


def _cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, rows: int) -> np.ndarray:
    start = len(close) - rows - 19
    typical = (high[start:] + low[start:] + close[start:]) / 3.0
    windows = _windows(typical, 20, rows)
    mean = _means(windows)
    deviation = _sums(np.abs(windows - mean[:, None])) / 20
    return _ratio(typical[-rows:] - mean, 0.015 * deviation, 0.0)


def _midpoint(high: np.ndarray, low: np.ndarray, window: int, rows: int) -> np.ndarray:
    highest = _rolling_max(high, window, rows)
    midpoint: np.ndarray = 0.5 * (highest + _rolling_min(low, window, rows))
    return midpoint


def _oscillator_columns(high: np.ndarray, low: np.ndarray, close: np.ndarray, rows: int) -> Columns:
    c = close[-rows:]
    highest = _rolling_max(high, 14, rows + 2)  # 2 more rows for %D
    lowest = _rolling_min(low, 14, rows + 2)
    stoch_k = 100.0 * _ratio(close[-rows - 2 :] - lowest, highest - lowest, 0.5)
    tenkan, kijun = _midpoint(high, low, 9, rows), _midpoint(high, low, 26, rows)
    span_a, span_b = 0.5 * (tenkan + kijun), _midpoint(high, low, 52, rows)
    plus_di, minus_di, adx, atr = _directional(high, low, close, rows)
    sar, trend, factor = (column[-rows:] for column in parabolic_sar_values(high, low, 0.02, 0.2))
    return {
        "stoch_k": stoch_k[-rows:],
        "stoch_d": _means(_windows(stoch_k, 3, rows)),
        "williams_r": -100.0 * _ratio(highest[-rows:] - c, (highest - lowest)[-rows:], 0.5),
        "tenkan_ratio": c / tenkan - 1.0,
        "kijun_ratio": c / kijun - 1.0,
        "span_a_ratio": c / span_a - 1.0,
        "span_b_ratio": c / span_b - 1.0,
        "cloud_thickness": (span_a - span_b) / c,
        "tenkan_kijun_spread": tenkan / kijun - 1.0,
        "adx_14": adx,
        "plus_di_14": plus_di,
        "minus_di_14": minus_di,
        "atr_14_ratio": atr / c,
        "cci_20": _cci(high, low, close, rows),
        "psar_distance": (c - sar) / c,
        "psar_trend": trend,
        "psar_af": factor,
    }


def _time_columns(seconds: np.ndarray) -> Columns:
    """UTC hour and weekday cycles, as ``build_features`` (hour + minutes / 60, Monday = 0)."""
    of_day = seconds % 86_400
    hour = (of_day // 3_600).astype("float64") + (of_day % 3_600 // 60) / 60.0
    day = ((seconds // 86_400 + _EPOCH_WEEKDAY) % 7).astype("float64") + hour / 24.0
    return {
        "hour_sin": np.sin(math.tau * hour / 24.0),
        "hour_cos": np.cos(math.tau * hour / 24.0),
        "dow_sin": np.sin(math.tau * day / 7.0),
        "dow_cos": np.cos(math.tau * day / 7.0),
    }
