"""Read endpoints: health, predictions, history, features, model status.

Routes are ``def`` (not ``async def``): their work blocks (pandas, Keras, SQLite, MLflow), so
FastAPI runs them in its threadpool and the event loop stays free.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Response
from pydantic import BeforeValidator

from mlpkg.serving import status, views
from mlpkg.serving.deps import PairDep, StateDep
from mlpkg.serving.schemas import (
    AllPredictionsResponse,
    ErrorBody,
    FeaturesResponse,
    HealthResponse,
    HistoryResponse,
    LiveAccuracy,
    ModelStatusResponse,
    PairError,
    PredictionResponse,
)

PAIR_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown pair (the body lists the pairs)."},
    422: {"model": ErrorBody, "description": "Malformed pair or query parameter."},
}
SOURCE_ERRORS: dict[int | str, dict[str, Any]] = {
    **PAIR_ERRORS,
    502: {"model": ErrorBody, "description": "The candle source returned invalid candles."},
    503: {"model": ErrorBody, "description": "No model, or the candle source is unavailable."},
}

_DATE_TIME_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

router = APIRouter(prefix="/api")


def require_date_time(value: object) -> object:
    """Refuse a ``since`` value that is not shaped like an ISO-8601 date-time.

    Runs before pydantic's datetime parsing, which would also take a number as a Unix time
    and a bare date: neither fits the documented ``date-time`` format.

    Raises:
        ValueError: answered 422 with the field's location.
    """
    if isinstance(value, str) and not _DATE_TIME_START.match(value):
        raise ValueError(
            "use an ISO-8601 date-time such as 2024-01-31T12:00:00Z (UTC when no offset is given)"
        )
    return value


@router.get("/health", tags=["health"])
def get_health(state: StateDep) -> HealthResponse:
    """Service status (always 200 while up): ``healthy``, or ``degraded`` with reasons."""
    return status.health(state)


@router.get(
    "/predictions/{pair}",
    tags=["predictions"],
    response_model=PredictionResponse,
    responses=SOURCE_ERRORS,
)
async def get_prediction(pair: PairDep, state: StateDep) -> Response:
    """P(up) for the pair's latest candle from the served model (cached briefly)."""
    started = time.perf_counter()
    # A fresh cache hit is answered on the event loop; anything else blocks, so it runs in
    # the threadpool.
    answer = state.predictor.peek(pair)
    if answer is None:
        answer = await anyio.to_thread.run_sync(state.predictor.predict, pair)
    return views.json_response(views.prediction_view(answer, started))


def _one_pair(state: StateDep, pair: str) -> PredictionResponse | PairError:
    started = time.perf_counter()
    try:
        return views.prediction_view(state.predictor.predict(pair), started)
    except Exception as exc:  # one pair's failure must not fail the others
        return views.pair_error_view(exc)


@router.get("/predictions", tags=["predictions"])
def get_all_predictions(state: StateDep) -> AllPredictionsResponse:
    """Predictions of every configured pair; a failing pair gets an error entry instead."""
    started = time.perf_counter()
    pairs = list(state.settings.pairs)
    return AllPredictionsResponse(
        predictions={pair: _one_pair(state, pair) for pair in pairs},
        pairs=pairs,
        timestamp=status.now_ms(),
        response_time=views.elapsed_ms(started),
    )


@router.get("/predictions/{pair}/history", tags=["predictions"], responses=PAIR_ERRORS)
def get_history(
    pair: PairDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Newest N predictions.")] = 100,
    since: Annotated[
        datetime | None,
        BeforeValidator(require_date_time),
        Query(description="ISO-8601 date-time, e.g. 2024-01-31T12:00:00Z; UTC if no offset."),
    ] = None,
) -> HistoryResponse:
    """Served predictions of the pair, newest first, with realised outcomes."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    records = state.store.history(pair, limit=limit, since=since)
    return HistoryResponse(
        pair=pair,
        predictions=[views.record_view(r) for r in records],
        count=len(records),
        live_accuracy=LiveAccuracy.model_validate(state.store.live_accuracy(pair)),
        timestamp=status.now_ms(),
    )


@router.get("/features/{pair}", tags=["features"], responses=SOURCE_ERRORS)
def get_features(pair: PairDep, state: StateDep) -> FeaturesResponse:
    """Feature names and values of the pair's latest candle (the served model's config)."""
    return views.features_view(state.predictor.features(pair), status.now_ms())


@router.get("/models/{pair}/status", tags=["models"], responses=PAIR_ERRORS)
def get_model_status(pair: PairDep, state: StateDep) -> ModelStatusResponse:
    """Registered versions, the served version's walk-forward metrics, live accuracy."""
    return status.model_status(state, pair)
