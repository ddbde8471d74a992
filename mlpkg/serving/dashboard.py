"""What the dashboard page draws for one pair: closed candles, predictions, accuracy over time.

``GET /api/dashboard/{pair}`` (``mlpkg.serving.routes.dashboard``) answers :func:`pair_view`.
Everything else the page shows comes from the existing endpoints (model status, training
queue, challenger) and from ``/ws/predictions``; this module only adds what no endpoint gave:
the candles themselves and the served version's live accuracy *as it grew*, one point per
settled candle, with the same Wilson interval as ``liveAccuracy``
(``mlpkg.evaluation.drift.wilson_interval``), so the last point equals the counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd
from pydantic import Field

from mlpkg.evaluation.drift import wilson_interval
from mlpkg.serving.schemas import ApiModel, PredictionRecordOut, now_ms

if TYPE_CHECKING:
    from mlpkg.serving.state import ServingState

MAX_POINTS = 500
"""At most this many accuracy points are sent (evenly thinned; the last one is always kept)."""


class CandleOut(ApiModel):
    """One closed candle."""

    time: datetime = Field(description="Open time (UTC).")
    open: float
    high: float
    low: float
    close: float
    volume: float


class AccuracyPointOut(ApiModel):
    """The served version's live accuracy right after one candle's outcome settled."""

    time: datetime = Field(description="Open time of the target candle that settled it.")
    n_realised: int
    accuracy: float
    ci95: list[float] = Field(description="Wilson 95 % interval [low, high].")
    up_rate: float = Field(description="Share of settled candles that went up (always-up).")


class DashboardPairResponse(ApiModel):
    """Body of ``GET /api/dashboard/{pair}``: what the page draws for a pair."""

    pair: str
    model_version: str | None = Field(description="The served version (null: none loaded).")
    candles: list[CandleOut] = Field(description="The latest closed candles, oldest first.")
    predictions: list[PredictionRecordOut] = Field(
        description="Served-candidate predictions (every version) of those candles, oldest first."
    )
    accuracy: list[AccuracyPointOut] = Field(
        description="The served version's cumulative live accuracy, one point per settled candle."
    )
    timestamp: int


def accuracy_series(
    outcomes: Sequence[tuple[datetime, bool, bool]], max_points: int = MAX_POINTS
) -> list[AccuracyPointOut]:
    """Cumulative live accuracy after each settled candle, with its Wilson 95 % interval.

    Args:
        outcomes: ``(target_time, correct, went_up)`` in settling order (one per candle).
        max_points: Thin the series to about this many points (the last one is kept).

    Returns:
        One point per settled candle (or per ``len/max_points`` of them): the time the outcome
        became known, how many were settled, accuracy, interval and always-up's rate.
    """
    step = max(1, -(-len(outcomes) // max_points))
    points: list[AccuracyPointOut] = []
    correct = up = 0
    for n, (time, right, went_up) in enumerate(outcomes, start=1):
        correct += right
        up += went_up
        if n % step and n != len(outcomes):
            continue
        low, high = wilson_interval(correct, n) or (0.0, 1.0)
        points.append(
            AccuracyPointOut(
                time=time,
                n_realised=n,
                accuracy=correct / n,
                ci95=[low, high],
                up_rate=up / n,
            )
        )
    return points


def candle_rows(candles: pd.DataFrame) -> list[CandleOut]:
    """The candles as ``{time, open, high, low, close, volume}`` rows, oldest first."""
    return [
        CandleOut(
            time=index.to_pydatetime(),
            open=float(row.open),
            high=float(row.high),
            low=float(row.low),
            close=float(row.close),
            volume=float(row.volume),
        )
        for index, row in zip(candles.index, candles.itertuples(index=False), strict=True)
    ]


def pair_view(state: ServingState, pair: str, limit: int) -> DashboardPairResponse:
    """The pair's last ``limit`` closed candles, its served predictions of them, and accuracy.

    Args:
        state: The service state (candle feed, prediction store, model cache).
        pair: A configured pair.
        limit: How many of the latest closed candles to send.

    Raises:
        DataSourceError, UpstreamUnavailableError, CandleValidationError,
            CandleIntervalError: from the candle source, as for a prediction.
    """
    model = state.models.peek(pair)
    interval = model.bundle.candle_interval if model is not None else None
    candles = state.feed.candles(pair, 0, interval).iloc[-limit:]
    records = (
        state.store.candle_window(pair, candles.index[0].to_pydatetime()) if len(candles) else []
    )
    # Only what the served alias answered: a store with shadow predictions of a challenger
    # (their ``role``) keeps those for the challenger's own evidence.
    records = [r for r in records if getattr(r, "role", "served") == "served"]
    outcomes = state.store.settled_outcomes(pair, model.version) if model is not None else []
    return DashboardPairResponse(
        pair=pair,
        model_version=model.version if model is not None else None,
        candles=candle_rows(candles),
        predictions=[PredictionRecordOut.model_validate(r) for r in records],
        accuracy=accuracy_series(outcomes),
        timestamp=now_ms(),
    )
