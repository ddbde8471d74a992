"""The feature matrix of a candle frame: the DataFrame wrapper of the NumPy feature kernels.

``build_features`` checks the frame, hands its columns to ``mlpkg.features.columns.
feature_columns`` for every row (the same kernels ``window_features`` runs on the last rows of a
prediction), adds the cross-asset columns and blanks the warm-up. Row t depends only on
candles[:t+1], and every row before ``warmup_rows(config)`` is NaN. Also here: the warm-up
(``warmup_rows``, ``settle_rows``) and the column names (``feature_names``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import pandas as pd

from mlpkg.config import FeatureConfig
from mlpkg.data.schema import CANDLE_COLUMNS
from mlpkg.errors import CandleValidationError
from mlpkg.features.columns import LONGEST_WINDOW, WILDER_WINDOW, feature_columns
from mlpkg.features.cross_asset import cross_asset_frame, cross_feature_names

EWM_TOLERANCE = 1e-10
"""Largest weight the seed of an exponential average may keep after the warm-up."""


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
    frame = candles[list(CANDLE_COLUMNS)]
    prices = np.ascontiguousarray(frame.to_numpy(dtype="float64").T)
    stamps = pd.DatetimeIndex(candles.index).as_unit("ns").asi8
    columns = feature_columns(prices, stamps, config, rows=len(prices[0]))
    features = pd.DataFrame(columns, index=candles.index)
    if config.cross_assets:
        features = features.join(cross_asset_frame(frame, references or {}, config))
    features.iloc[: warmup_rows(config)] = np.nan
    return features


def feature_names(config: FeatureConfig) -> list[str]:
    """Return the columns ``build_features`` produces for ``config``, in order."""
    prices, stamps = np.ones((len(CANDLE_COLUMNS), 2)), np.zeros(2, dtype="int64")
    return [*feature_columns(prices, stamps, config, rows=2), *cross_feature_names(config)]
