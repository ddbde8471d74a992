"""Turn a pair's candles into the aligned matrices every pipeline uses."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.data.schema import infer_frequency
from mlpkg.data.sources import load_candles
from mlpkg.errors import ConfigError
from mlpkg.features.build import build_features, warmup_rows
from mlpkg.features.labels import make_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairDataset:
    """Candles, features and labels of one pair, trimmed to rows with features and a label."""

    pair: str
    candles: pd.DataFrame
    features: pd.DataFrame
    X: pd.DataFrame
    y: pd.Series
    future_returns: pd.Series
    warmup_rows: int
    interval: pd.Timedelta


def prepare_dataset(
    config: RunConfig, settings: Settings | None = None, candles: pd.DataFrame | None = None
) -> PairDataset:
    """Load (unless given) the pair's candles, build features and the ``direction_h`` label.

    Raises:
        ConfigError: when too few rows remain after the warm-up.
    """
    settings = settings or get_settings()
    if candles is None:
        candles = load_candles(config.pair, config.source, settings)
    if config.data_end:
        candles = candles.loc[: pd.Timestamp(config.data_end)]
    if config.max_rows:
        candles = candles.iloc[-config.max_rows :]
    features = build_features(candles, config.features)
    warm = warmup_rows(config.features)
    labels = make_labels(candles["close"], (config.horizon,))
    direction = labels[f"direction_{config.horizon}"].iloc[warm:]
    labelled = direction.notna()
    X = features.iloc[warm:][labelled]
    if len(X) < config.model.window * 3:
        raise ConfigError(
            f"{config.pair}: only {len(X)} labelled rows after a {warm}-row warm-up; need at "
            f"least {config.model.window * 3}. Use more candles (max_rows=0) or a smaller window."
        )
    log.info(
        "%s: %d candles, %d features, %d labelled rows",
        config.pair,
        len(candles),
        features.shape[1],
        len(X),
    )
    return PairDataset(
        pair=config.pair,
        candles=candles,
        features=features,
        X=X,
        y=direction[labelled].astype("float64"),
        future_returns=labels[f"future_return_{config.horizon}"].iloc[warm:][labelled],
        warmup_rows=warm,
        interval=infer_frequency(candles.index),
    )
