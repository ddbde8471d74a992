"""The last feature rows of a candle history: the serving hot path.

``window_features`` runs the feature kernels (``mlpkg.features.columns.feature_columns``, the
same ones ``build_features`` runs on every row) for only the last ``rows`` rows, on the last
``warmup_rows(config) + rows`` candles: rolling windows read just the rows they need,
exponential averages and Parabolic SAR run over that suffix. Its rows equal ``build_features``
on the same candles to rounding, and the full-history features within 1e-9, in
``feature_names(config)`` order (``tests/features/test_window.py``). It accepts a candle frame
or a NumPy array with its open times. Pure: no I/O; imports neither SciPy nor TensorFlow (the
serving process imports it at start).
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral

import numpy as np
import pandas as pd

from mlpkg.config import FeatureConfig
from mlpkg.data.schema import CANDLE_COLUMNS
from mlpkg.errors import CandleValidationError, ConfigError
from mlpkg.features.build import warmup_rows
from mlpkg.features.columns import feature_columns
from mlpkg.features.cross_asset import check_window_references, cross_asset_values

_NS_PER_TICK = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


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
    columns = feature_columns(prices, _utc_ns(index, prices.shape[1]), config, rows)
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


def _utc_ns(index: pd.Index, count: int) -> np.ndarray:
    """UTC nanoseconds since the epoch of the last ``count`` open times."""
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise CandleValidationError(
            "Candles need time-zone-aware open times for the time features; localise them "
            "with tz_localize('UTC') if they are UTC."
        )
    ticks: np.ndarray = index.asi8[len(index) - count :]  # UTC ticks whatever the displayed zone
    return ticks * _NS_PER_TICK[index.unit]
