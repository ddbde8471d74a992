"""Score the latest candle of a pair with a fitted model bundle.

``score_latest`` computes the feature rows of the model's window only
(``mlpkg.features.window.window_features``: NumPy over the last warm-up + window candles,
equal to the full-history features within 1e-9), runs the members and combines them. It takes
any ``ScoringBundle``: the research ``ModelBundle`` (Keras, LightGBM, scikit-learn) or the
server's ``mlpkg.serving.runtime.RuntimeBundle`` (ONNX Runtime, NumPy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlpkg.config import RunConfig
from mlpkg.data.calendars import bar_after, calendar_of, complete_windows_of
from mlpkg.errors import CandleValidationError, MissingCandlesError
from mlpkg.features.window import window_features
from mlpkg.models.signals import Direction, Signal, describe_prediction, withhold_signal


class ScoringBundle(Protocol):
    """What scoring reads from a fitted bundle (``ModelBundle`` or the server's runtime)."""

    @property
    def candidate(self) -> str:
        """The family or ensemble name."""

    @property
    def members(self) -> Mapping[str, Any]:
        """Member name -> member, in the procedure's order."""

    @property
    def run_config(self) -> RunConfig:
        """The run's config (features, horizon)."""

    @property
    def feature_names(self) -> list[str]:
        """The feature columns, in the members' order."""

    @property
    def warmup_rows(self) -> int:
        """Feature warm-up rows."""

    @property
    def context_rows(self) -> int:
        """Rows of history before the scored row."""

    @property
    def history_rows(self) -> int:
        """Candles needed to score the latest one."""

    @property
    def candle_interval(self) -> pd.Timedelta:
        """The candle length the model was trained on."""

    def member_probas(
        self, X: pd.DataFrame | np.ndarray, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """P(up) of each member (all, or ``names``) for each row of X."""

    def combine(self, probas: dict[str, np.ndarray]) -> np.ndarray:
        """Combine member probabilities with the registered weights."""


@dataclass(frozen=True)
class LatestPrediction:
    """A prediction about the close ``horizon`` candles after ``candle_time``.

    Attributes:
        probability: Combined P(up) (a single family's own P(up) when not an ensemble).
        individual: P(up) of each member of the bundle (only ``member``'s when one was asked).
        candidate: The family or ensemble of the bundle.
        member: The member that answered alone (``None``: the candidate, members combined).
        feature_row: The scored candle's features (``feature_names`` order), for checks that
            read them (out-of-distribution) without computing them again.
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
    member: str | None = None
    feature_row: np.ndarray | None = field(default=None, compare=False, repr=False)


def check_window(candles: pd.DataFrame, bundle: ScoringBundle) -> None:
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
    # Strictly increasing open times: the window is complete iff it spans (rows - 1) intervals.
    # Compared in nanoseconds whatever the index's unit (Timedelta.value is always ns).
    stamps, step = index.as_unit("ns").asi8, pd.Timedelta(bundle.candle_interval).value
    if stamps[-1] - stamps[0] == (len(stamps) - 1) * step:
        return
    calendar = calendar_of(bundle.run_config.features)
    ordinals = calendar.bar_ordinals(index, bundle.candle_interval)
    if not complete_windows_of(ordinals, len(index))[-1]:
        apart = np.diff(ordinals)
        gap = int(np.argmax(~(apart == 1)))
        raise MissingCandlesError(
            f"The model's {len(index)}-candle window ending {index[-1]} spans missing candles "
            f"between {index[gap]} and {index[gap + 1]} (interval {bundle.candle_interval}, "
            f"calendar {calendar.name}). "
            "It is refused rather than stretched: wait until the window is complete again, or "
            "fill the gap in the data source."
        )


def score_latest(
    bundle: ScoringBundle,
    candles: pd.DataFrame,
    *,
    strong: float = 0.7,
    normal: float = 0.55,
    promoted: bool = True,
    member: str | None = None,
    references: Mapping[str, pd.DataFrame] | None = None,
) -> LatestPrediction:
    """Predict the direction ``horizon`` candles after the last candle of ``candles``.

    Args:
        bundle: The fitted model bundle.
        candles: Closed candles, oldest first (at least ``bundle.history_rows``).
        strong: Confidence threshold of the STRONG signals (``Settings.signal_strong``).
        normal: Confidence threshold of BUY/SELL (``Settings.signal_normal``).
        promoted: Whether the version passed the promotion rule (or was promoted by hand);
            otherwise the signal is ``HOLD`` (``mlpkg.models.signals.withhold_signal``).
        member: Answer with this member's own P(up) instead of the combined one (only that
            member runs); ``None``: the bundle's candidate (every member, combined).
        references: Closed candles by pair of the cross assets the bundle's features read
            (``mlpkg.features.cross_asset.reference_pairs``), one window each; unused without.

    Raises:
        CandleValidationError: when there are too few candles, the features are not finite or
            the model yields no number.
        MissingCandlesError: when the window spans missing candles.
        KeyError: when ``member`` is not a member of the bundle.
    """
    check_window(candles, bundle)
    values = window_features(
        candles, bundle.run_config.features, bundle.context_rows + 1, references=references
    )
    if not np.isfinite(values).all():
        raise CandleValidationError(
            "The features of the latest window hold NaN/inf values; check the candles "
            "(a zero or missing price) in the data source."
        )
    names = list(bundle.members) if member is None else [member]
    individual = {name: float(p[-1]) for name, p in bundle.member_probas(values, names).items()}
    if member is None:
        proba = float(bundle.combine({k: np.array([v]) for k, v in individual.items()})[0])
    else:
        proba = individual[member]
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
        target_time=bar_after(
            calendar_of(bundle.run_config.features), candle_time, horizon, bundle.candle_interval
        ),
        close=float(candles["close"].iloc[-1]),
        horizon=horizon,
        feature_count=values.shape[1],
        candidate=bundle.candidate,
        individual=individual,
        member=member,
        feature_row=values[-1],
    )
