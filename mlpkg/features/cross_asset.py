"""Cross-asset features: a reference asset's recent returns and volatility, and the market's.

For a pair's candles and ``FeatureConfig.cross_assets`` (reference pairs such as ``BTC`` and/or
``market``), each asset adds ``<asset>_return_<h>`` for ``h`` in :data:`CROSS_RETURN_LAGS` and
``<asset>_volatility_<w>`` (sample std of log returns over :data:`CROSS_VOLATILITY_WINDOW`
rows). ``market`` is the equal-weight mean of the one-candle returns of ``market_pairs``.

Alignment: a reference's closes are looked up at the pair's own open times, exactly
(``reindex``): a pair's row whose reference candle is missing gets NaN, and so does every row
whose lags or volatility window reach it (a gap, never a fill); the market return is NaN unless
every market pair has both candles. Row t reads reference candles at or before t only, so the
features are prefix-invariant like the others (``tests/features/test_cross_asset.py``).

One NumPy implementation serves both paths: ``build_features`` (every row) and
``window_features`` (the last rows of a prediction), through :func:`cross_asset_values`.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mlpkg.config import MARKET, FeatureConfig
from mlpkg.errors import CandleValidationError, ConfigError

CROSS_RETURN_LAGS: tuple[int, ...] = (1, 5, 20)
"""Rows over which each cross asset's compounded return is taken."""
CROSS_VOLATILITY_WINDOW = 20
"""Rows of one-candle log returns in each cross asset's volatility."""
CROSS_LOOKBACK = max(*CROSS_RETURN_LAGS, CROSS_VOLATILITY_WINDOW) + 1
"""Rows of reference candles before a feature row that its values read (the current included)."""


def asset_prefix(asset: str) -> str:
    """The column prefix of a cross asset (``BTC`` -> ``btc``, ``market`` -> ``market``)."""
    return asset.lower()


def cross_feature_names(config: FeatureConfig) -> list[str]:
    """The cross-asset columns of ``config``, in order (empty without ``cross_assets``)."""
    names = []
    for asset in config.cross_assets:
        prefix = asset_prefix(asset)
        names += [f"{prefix}_return_{h}" for h in CROSS_RETURN_LAGS]
        names.append(f"{prefix}_volatility_{CROSS_VOLATILITY_WINDOW}")
    return names


def reference_pairs(config: FeatureConfig) -> tuple[str, ...]:
    """Every pair whose candles the cross-asset features read (references, then the market)."""
    pairs = [a for a in config.cross_assets if a != MARKET]
    if MARKET in config.cross_assets:
        pairs += list(config.market_pairs)
    return tuple(dict.fromkeys(pairs))


def _aligned_returns(index: pd.DatetimeIndex, candles: pd.DataFrame) -> np.ndarray:
    """One-candle simple returns of ``candles`` on the rows of ``index`` (NaN at a gap).

    The reference's close is taken at exactly each open time of ``index`` (a binary search on
    its sorted open times, so a serving window reads a few dozen rows of a long history); an
    open time the reference lacks gives NaN.
    """
    stamps = pd.DatetimeIndex(candles.index).as_unit("ns").asi8
    wanted = index.as_unit("ns").asi8
    found = np.minimum(np.searchsorted(stamps, wanted), max(len(stamps) - 1, 0))
    closes = candles["close"].to_numpy(dtype="float64")
    exact = (stamps[found] == wanted) if len(stamps) else np.zeros(len(wanted), dtype=bool)
    close = np.where(exact, closes[found] if len(stamps) else np.nan, np.nan)
    returns = np.full(len(close), np.nan)
    returns[1:] = close[1:] / close[:-1] - 1.0
    return returns


def _trailing(values: np.ndarray, window: int) -> np.ndarray:
    """``(n, window)``: the trailing ``window`` values of each row (NaN-padded at the start)."""
    padded = np.concatenate([np.full(window - 1, np.nan), values])
    return np.lib.stride_tricks.sliding_window_view(padded, window)


def _asset_columns(returns: np.ndarray) -> list[np.ndarray]:
    """Compounded returns over each lag, then the log-return volatility (NaN propagates)."""
    growth = np.log1p(returns)
    columns = [np.expm1(_trailing(growth, h).sum(axis=1)) for h in CROSS_RETURN_LAGS]
    columns.append(_trailing(growth, CROSS_VOLATILITY_WINDOW).std(axis=1, ddof=1))
    return columns


def _asset_returns(
    asset: str,
    index: pd.DatetimeIndex,
    references: Mapping[str, pd.DataFrame],
    config: FeatureConfig,
) -> np.ndarray:
    pairs = config.market_pairs if asset == MARKET else (asset,)
    missing = [p for p in pairs if p not in references]
    if missing:
        raise ConfigError(
            f"Cross asset {asset!r} needs the candles of {missing}: pass them in references "
            "(mlpkg.pipelines.dataset loads them for a run config with cross_assets)."
        )
    stacked = np.column_stack([_aligned_returns(index, references[p]) for p in pairs])
    # The mean of a row with a missing candle is NaN: the market needs every pair.
    returns: np.ndarray = stacked.mean(axis=1)
    return returns


def cross_asset_values(
    index: pd.DatetimeIndex,
    references: Mapping[str, pd.DataFrame],
    config: FeatureConfig,
    rows: int | None = None,
) -> np.ndarray:
    """The cross-asset features of the last ``rows`` rows of ``index`` (all rows by default).

    Args:
        index: The pair's candle open times (tz-aware, increasing).
        references: Candle frames by pair, at least ``reference_pairs(config)``; only their
            ``close`` at the open times of ``index`` is read.
        config: ``cross_assets`` and ``market_pairs``.
        rows: How many of the last rows to compute (the serving window); reads only the last
            ``rows + CROSS_LOOKBACK`` open times.

    Returns:
        A float64 array ``(rows, len(cross_feature_names(config)))``; NaN where a value would
        read a missing reference candle (or lacks history at the start).

    Raises:
        ConfigError: when a needed reference is missing from ``references``.
    """
    count = len(index) if rows is None else rows
    tail = pd.DatetimeIndex(index[max(0, len(index) - count - CROSS_LOOKBACK) :])
    columns: list[np.ndarray] = []
    for asset in config.cross_assets:
        columns += _asset_columns(_asset_returns(asset, tail, references, config))
    if not columns:
        return np.empty((count, 0))
    values: np.ndarray = np.column_stack(columns)[len(tail) - count :]
    return values


def cross_asset_frame(
    candles: pd.DataFrame, references: Mapping[str, pd.DataFrame], config: FeatureConfig
) -> pd.DataFrame:
    """The cross-asset features of every candle (NaN at reference gaps), on the candles' index."""
    index = pd.DatetimeIndex(candles.index)
    values = cross_asset_values(index, references, config)
    return pd.DataFrame(values, index=candles.index, columns=cross_feature_names(config))


def check_window_references(
    index: pd.DatetimeIndex, values: np.ndarray, config: FeatureConfig
) -> None:
    """Refuse a serving window whose cross-asset features read a missing reference candle.

    Raises:
        CandleValidationError: naming the first row whose cross-asset features are missing.
    """
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        first = index[len(index) - len(values) + int(np.argmax(bad))]
        raise CandleValidationError(
            f"A reference candle of {list(reference_pairs(config))} is missing at or before "
            f"{first} (cross_assets {list(config.cross_assets)}): the window is refused rather "
            "than filled. Wait until the reference's candle has closed, or fix the data source."
        )


def gap_rows(features: pd.DataFrame, warmup: int) -> np.ndarray:
    """Rows after the warm-up with a non-finite feature (a reference gap), as a boolean mask."""
    values = features.to_numpy(dtype="float64")
    bad: np.ndarray = ~np.isfinite(values).all(axis=1)
    bad[:warmup] = False
    return bad
