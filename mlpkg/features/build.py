"""Build the scale-free feature matrix from a candle frame.

``build_features`` turns the indicators of ``mlpkg.features.indicators`` and a few price,
volume and calendar transforms into float64 columns that carry no price or volume level:
ratios to the close, returns, oscillators in their natural ranges and UTC calendar cycles, so a
model trained on 2017 prices applies to 2019 prices. Row t depends only on candles[:t+1], and
every row before ``warmup_rows(config)`` is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import lru_cache

import numpy as np
import pandas as pd

from mlpkg.config import INTERVALS, FeatureConfig
from mlpkg.data.schema import CANDLE_COLUMNS
from mlpkg.errors import CandleValidationError
from mlpkg.features import indicators as ind
from mlpkg.features.cross_asset import cross_asset_frame, cross_feature_names
from mlpkg.features.sessions import closure_columns

EWM_TOLERANCE = 1e-10
"""Largest weight the seed of an exponential average may keep after the warm-up."""
WILDER_WINDOW = 14
"""RSI, ATR and ADX window; the slowest exponential smoothing (alpha = 1/14)."""
LONGEST_WINDOW = 52
"""Ichimoku span B, the longest rolling window of the indicators."""

INTERVAL_NS: dict[str, int] = {name: seconds * 1_000_000_000 for name, seconds in INTERVALS.items()}
"""Each candle interval name in nanoseconds."""


@lru_cache(maxsize=32)
def settle_rows(alpha: float, stages: int = 1, tolerance: float = EWM_TOLERANCE) -> int:
    """Rows after which a chain of ``stages`` EWMs has forgotten its seed to ``tolerance``.

    One EWM keeps a weight ``(1 - alpha) ** k`` on its seed after k rows; ``stages`` identical
    EWMs in a row keep at most ``C(k + stages - 1, stages - 1) * (1 - alpha) ** k``. Cached:
    ``warmup_rows`` calls it on every prediction.
    """
    rows = 0
    while math.comb(rows + stages - 1, stages - 1) * (1.0 - alpha) ** rows > tolerance:
        rows += 1
    return rows


def warmup_rows(config: FeatureConfig) -> int:
    """Rows at the start of a history whose features are NaN (and not yet trustworthy).

    Two guarantees need it. Rolling windows are exact once full: the longest is Ichimoku's 52
    rows (or a longer return lag / volatility window from ``config``, plus the row a return
    needs). Exponential averages never forget their seed entirely, so a history that starts
    elsewhere (the service computes features on the last ``warmup + window`` candles only)
    gives slightly different values; the slowest chain is Wilder's ADX (alpha = 1/14, DM/TR
    smoothing followed by DX smoothing: two stages), whose seed weight falls below 1e-10 after
    392 rows; MACD (alpha = 2/27, then its signal EMA) settles sooner. The warm-up is the
    longest window plus that settling time, 52 + 392 = 444 rows with the default config, which
    keeps features computed on such a suffix within 1e-6 of the full-history values. Parabolic
    SAR, path-dependent, re-synchronised within 335 rows from every start row of the shipped
    data (``bench/features/sar_resync.py``); the tests check both on real candles.
    """
    longest = max(
        LONGEST_WINDOW, *config.return_lookbacks, *(w + 1 for w in config.volatility_windows)
    )
    wilder = settle_rows(1.0 / WILDER_WINDOW, stages=2)
    macd = settle_rows(2.0 / (26 + 1), stages=2)
    return longest + max(wilder, macd)


def _return_features(close: pd.Series, config: FeatureConfig) -> dict[str, pd.Series]:
    features = {f"return_{h}": close / close.shift(h) - 1.0 for h in config.return_lookbacks}
    log_return = np.log(close / close.shift(1))
    for window in config.volatility_windows:
        features[f"volatility_{window}"] = ind.rolling_std(log_return, window, ddof=1)
    if len(config.volatility_windows) > 1:
        short, long = min(config.volatility_windows), max(config.volatility_windows)
        features[f"volatility_ratio_{short}_{long}"] = ind.safe_divide(
            features[f"volatility_{short}"], features[f"volatility_{long}"], fill=1.0
        )
    return features


def _range_features(candles: pd.DataFrame) -> dict[str, pd.Series]:
    open_, high, low, close = (candles[c] for c in ("open", "high", "low", "close"))
    hl_range = (high - low) / close
    window_high = high.rolling(20, min_periods=20).max()
    window_low = low.rolling(20, min_periods=20).min()
    closes_low = close.rolling(20, min_periods=20).min()
    closes_high = close.rolling(20, min_periods=20).max()
    return {
        "hl_range": hl_range,
        "hl_position": ind.safe_divide(close - low, high - low, fill=0.5),
        "body": close / open_ - 1.0,
        "upper_shadow": (high - np.maximum(open_, close)) / close,
        "lower_shadow": (np.minimum(open_, close) - low) / close,
        "gap": open_ / close.shift(1) - 1.0,
        "price_position_20": ind.safe_divide(close - closes_low, closes_high - closes_low, 0.5),
        "range_ratio_20": ind.safe_divide(hl_range, ind.sma(hl_range, 20), fill=1.0),
        "close_to_high_20": close / window_high - 1.0,
        "close_to_low_20": close / window_low - 1.0,
    }


def _trend_features(close: pd.Series) -> dict[str, pd.Series]:
    macd = ind.macd(close)
    bands = ind.bollinger(close)
    fast, slow = ind.sma(close, 10), ind.sma(close, 21)
    return {
        "rsi_14": ind.rsi(close, WILDER_WINDOW),
        "macd": macd["macd"] / close,
        "macd_signal": macd["macd_signal"] / close,
        "macd_hist": macd["macd_hist"] / close,
        "ema_12_ratio": close / ind.ema(close, 12) - 1.0,
        "ema_26_ratio": close / ind.ema(close, 26) - 1.0,
        "bb_percent_b": bands["bb_percent_b"],
        "bb_bandwidth": bands["bb_bandwidth"],
        "sma_10_ratio": close / fast - 1.0,
        "sma_21_ratio": close / slow - 1.0,
        "sma_10_21_spread": fast / slow - 1.0,
    }


def _volume_features(close: pd.Series, volume: pd.Series) -> dict[str, pd.Series]:
    flows = ind.volume_indicators(close, volume, 20)
    recent = volume.rolling(5, min_periods=5).mean()
    return {
        "volume_ratio_20": flows["volume_ratio"],
        "volume_trend_5": ind.safe_divide(recent, recent.shift(5), fill=1.0) - 1.0,
        "obv_flow_20": flows["obv_flow"],
        "vpt_flow_20": flows["vpt_flow"],
    }


def _oscillator_features(candles: pd.DataFrame) -> dict[str, pd.Series]:
    high, low, close = candles["high"], candles["low"], candles["close"]
    stoch = ind.stochastic(high, low, close, 14, 3)
    cloud = ind.ichimoku(high, low, 9, 26, 52)
    directional = ind.adx(high, low, close, WILDER_WINDOW)
    sar = ind.parabolic_sar(high, low, 0.02, 0.2)
    return {
        "stoch_k": stoch["stoch_k"],
        "stoch_d": stoch["stoch_d"],
        "williams_r": ind.williams_r(high, low, close, 14),
        "tenkan_ratio": close / cloud["tenkan"] - 1.0,
        "kijun_ratio": close / cloud["kijun"] - 1.0,
        "span_a_ratio": close / cloud["span_a"] - 1.0,
        "span_b_ratio": close / cloud["span_b"] - 1.0,
        "cloud_thickness": (cloud["span_a"] - cloud["span_b"]) / close,
        "tenkan_kijun_spread": cloud["tenkan"] / cloud["kijun"] - 1.0,
        "adx_14": directional["adx"],
        "plus_di_14": directional["plus_di"],
        "minus_di_14": directional["minus_di"],
        "atr_14_ratio": directional["atr"] / close,
        "cci_20": ind.cci(high, low, close, 20, 0.015),
        "psar_distance": (close - sar["sar"]) / close,
        "psar_trend": sar["trend"],
        "psar_af": sar["af"],
    }


def _time_features(index: pd.DatetimeIndex) -> dict[str, pd.Series]:
    utc = index.tz_convert("UTC")
    hour = np.asarray(utc.hour + utc.minute / 60.0, dtype="float64")
    day = np.asarray(utc.day_of_week, dtype="float64") + hour / 24.0  # 0 = Monday 00:00 UTC
    columns = {
        "hour_sin": np.sin(math.tau * hour / 24.0),
        "hour_cos": np.cos(math.tau * hour / 24.0),
        "dow_sin": np.sin(math.tau * day / 7.0),
        "dow_cos": np.cos(math.tau * day / 7.0),
    }
    return {name: pd.Series(values, index=index) for name, values in columns.items()}


def _check_candles(candles: pd.DataFrame) -> None:
    missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
    if missing:
        raise CandleValidationError(
            f"Candles lack the columns {missing}: build_features needs {list(CANDLE_COLUMNS)}. "
            "Load them with mlpkg.data.sources.load_candles."
        )
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise CandleValidationError(
            "Candles need a time-zone-aware DatetimeIndex (UTC open times) for the time "
            "features; localise it with candles.tz_localize('UTC') if the times are UTC."
        )


def _session_features(candles: pd.DataFrame, config: FeatureConfig) -> dict[str, pd.Series]:
    """The closure features, for every calendar but 24/7 (``mlpkg.features.sessions``)."""
    if not config.session_features:
        return {}
    stamps = pd.DatetimeIndex(candles.index).as_unit("ns").asi8
    step = int(INTERVAL_NS[config.interval])
    columns = closure_columns(
        candles["open"].to_numpy(), candles["close"].to_numpy(), stamps, step, len(stamps)
    )
    return {name: pd.Series(values, index=candles.index) for name, values in columns.items()}


_GROUPS: tuple[Callable[[pd.DataFrame, FeatureConfig], dict[str, pd.Series]], ...] = (
    lambda c, cfg: _return_features(c["close"], cfg),
    lambda c, cfg: _range_features(c),
    lambda c, cfg: _trend_features(c["close"]),
    lambda c, cfg: _volume_features(c["close"], c["volume"]),
    lambda c, cfg: _oscillator_features(c),
    lambda c, cfg: _time_features(c.index),
    _session_features,
)


def build_features(
    candles: pd.DataFrame,
    config: FeatureConfig,
    references: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Compute every feature for every candle, vectorised over the full history.

    Args:
        candles: A candle frame (UTC ``DatetimeIndex`` named ``open_time``, columns open, high,
            low, close, volume), oldest first.
        config: Which return lags, volatility windows and cross assets to include.
        references: Candle frames by pair for ``config.cross_assets``
            (``mlpkg.features.cross_asset.reference_pairs``); unused without cross assets.

    Returns:
        A float64 frame on the candles' index, columns ``feature_names(config)``; the first
        ``warmup_rows(config)`` rows are NaN, later rows are finite except the cross-asset
        columns of rows that read a missing reference candle (a gap, never filled).

    Raises:
        CandleValidationError: if a column is missing or the index is not time-zone aware.
        ConfigError: when a reference the cross assets need is not in ``references``.
    """
    _check_candles(candles)
    frame = candles[list(CANDLE_COLUMNS)].astype("float64")
    columns: dict[str, pd.Series] = {}
    for group in _GROUPS:
        columns.update(group(frame, config))
    features = pd.DataFrame(
        {name: np.asarray(values, dtype="float64") for name, values in columns.items()},
        index=candles.index,
    )
    if config.cross_assets:
        features = features.join(cross_asset_frame(frame, references or {}, config))
    features.iloc[: warmup_rows(config)] = np.nan
    return features


def feature_names(config: FeatureConfig) -> list[str]:
    """Return the columns ``build_features`` produces for ``config``, in order."""
    index = pd.date_range("2000-01-01", periods=2, freq="h", tz="UTC", name="open_time")
    candles = pd.DataFrame(1.0, index=index, columns=list(CANDLE_COLUMNS))
    own = config.model_copy(update={"cross_assets": ()})
    return [*build_features(candles, own).columns, *cross_feature_names(config)]
