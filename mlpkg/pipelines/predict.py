"""Score the latest candle of a pair with a fitted model bundle."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlpkg.errors import CandleValidationError, MissingCandlesError
from mlpkg.features.build import build_features
from mlpkg.features.labels import complete_windows
from mlpkg.models.signals import Direction, Signal, describe_prediction, withhold_signal
from mlpkg.tracking.bundle import ModelBundle


@dataclass(frozen=True)
class LatestPrediction:
    """A prediction about the close ``horizon`` candles after ``candle_time``.

    Attributes:
        probability: Combined P(up) (a single family's own P(up) when not an ensemble).
        individual: P(up) of each member of the bundle.
        candidate: The family or ensemble that answered.
    """

    probability: float
    direction: Direction
    confidence: float
    signal: Signal
    candle_time: pd.Timestamp
    target_time: pd.Timestamp
    close: float
    horizon: int
    feature_count: int
    candidate: str = ""
    individual: dict[str, float] = field(default_factory=dict)


def check_window(candles: pd.DataFrame, bundle: ModelBundle) -> None:
    """Refuse a window with missing candles (it would be stretched over the gap).

    Raises:
        CandleValidationError: with fewer candles than the warm-up + window.
        MissingCandlesError: when the model's window spans missing candles (names the gap).
    """
    needed = bundle.history_rows
    if len(candles) < needed:
        raise CandleValidationError(
            f"Need at least {needed} candles (feature warm-up {bundle.warmup_rows} + window "
            f"{bundle.context_rows + 1}) to predict, got {len(candles)}. "
            "Fetch more history from the data source."
        )
    index = pd.DatetimeIndex(candles.index[-(bundle.context_rows + 1) :])
    if not complete_windows(index, bundle.candle_interval, len(index))[-1]:
        steps = np.diff(index.asi8)
        gap = int(np.argmax(steps != pd.Timedelta(bundle.candle_interval).value))
        raise MissingCandlesError(
            f"The model's {len(index)}-candle window ending {index[-1]} spans missing candles "
            f"between {index[gap]} and {index[gap + 1]} (interval {bundle.candle_interval}). "
            "It is refused rather than stretched: wait until the window is complete again, or "
            "fill the gap in the data source."
        )


def score_latest(
    bundle: ModelBundle,
    candles: pd.DataFrame,
    *,
    strong: float = 0.7,
    normal: float = 0.55,
    promoted: bool = True,
) -> LatestPrediction:
    """Predict the direction ``horizon`` candles after the last candle of ``candles``.

    Args:
        bundle: The fitted model bundle.
        candles: Closed candles, oldest first (at least ``bundle.history_rows``).
        strong: Confidence threshold of the STRONG signals (``Settings.signal_strong``).
        normal: Confidence threshold of BUY/SELL (``Settings.signal_normal``).
        promoted: Whether the version passed the promotion rule (or was promoted by hand);
            otherwise the signal is ``HOLD`` (``mlpkg.models.signals.withhold_signal``).

    Raises:
        CandleValidationError: when there are too few candles or the model yields no number.
        MissingCandlesError: when the window spans missing candles.
    """
    check_window(candles, bundle)
    recent = candles.iloc[-bundle.history_rows :]
    features = build_features(recent, bundle.run_config.features)
    window = features.iloc[-(bundle.context_rows + 1) :]
    members = {name: float(p[-1]) for name, p in bundle.member_probas(window).items()}
    proba = float(bundle.combine({k: np.array([v]) for k, v in members.items()})[0])
    if not np.isfinite(proba):
        raise CandleValidationError("The model produced no probability: the window has NaN.")
    described = withhold_signal(
        describe_prediction(proba, strong=strong, normal=normal), promoted=promoted
    )
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
        candidate=bundle.candidate,
        individual=members,
    )
