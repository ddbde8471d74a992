"""Score the latest candle of a pair with a fitted model bundle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlpkg.errors import CandleValidationError
from mlpkg.features.build import build_features
from mlpkg.models.signals import describe_prediction
from mlpkg.tracking.pyfunc import ModelBundle


@dataclass(frozen=True)
class LatestPrediction:
    """A prediction for the candle after ``candle_time`` + horizon."""

    probability: float
    direction: str
    confidence: float
    signal: str
    candle_time: pd.Timestamp
    target_time: pd.Timestamp
    close: float
    horizon: int
    feature_count: int


def score_latest(bundle: ModelBundle, candles: pd.DataFrame) -> LatestPrediction:
    """Predict the direction ``horizon`` candles after the last candle of ``candles``.

    Raises:
        CandleValidationError: when there are fewer candles than the model's warm-up + window.
    """
    needed = bundle.history_rows
    if len(candles) < needed:
        raise CandleValidationError(
            f"Need at least {needed} candles (feature warm-up {bundle.warmup_rows} + window "
            f"{bundle.estimator.context_rows + 1}) to predict, got {len(candles)}. "
            "Fetch more history from the data source."
        )
    recent = candles.iloc[-needed:]
    features = build_features(recent, bundle.run_config.features)
    window = features.iloc[-(bundle.estimator.context_rows + 1) :]
    proba = float(bundle.estimator.predict_proba(window)[-1, 1])
    if not np.isfinite(proba):
        raise CandleValidationError("The model produced no probability: the window has NaN.")
    described = describe_prediction(proba)
    horizon = bundle.run_config.horizon
    candle_time = pd.Timestamp(candles.index[-1])
    return LatestPrediction(
        probability=proba,
        direction=described.direction,
        confidence=described.confidence,
        signal=described.signal,
        candle_time=candle_time,
        target_time=candle_time + horizon * bundle.candle_interval,
        close=float(candles["close"].iloc[-1]),
        horizon=horizon,
        feature_count=features.shape[1],
    )
