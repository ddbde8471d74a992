"""``/api/predictions``: the latest prediction of one pair or of all, and the served history.

A fresh cache hit of ``GET /api/predictions/{pair}`` is answered on the event loop; anything
else blocks (pandas, Keras, SQLite) and runs in the threadpool.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, BeforeValidator

from mlpkg.serving.deps import PairDep, SettingsDep, StateDep
from mlpkg.serving.errors import PAIR_ERRORS, SOURCE_ERRORS, classify
from mlpkg.serving.predictor import CacheAnswer
from mlpkg.serving.schemas import (
    AllPredictionsResponse,
    HistoryResponse,
    LiveAccuracy,
    PairError,
    PredictionDetail,
    PredictionMetadata,
    PredictionRecordOut,
    PredictionResponse,
    now_ms,
)
from mlpkg.serving.state import ServingState
from mlpkg.storage import PredictionRecord

_DATE_TIME_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

router = APIRouter(prefix="/api/predictions", tags=["predictions"])


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


@router.get("/{pair}", response_model=PredictionResponse, responses=SOURCE_ERRORS)
async def get_prediction(pair: PairDep, state: StateDep) -> Response:
    """P(up) for the pair's latest candle from the served model (cached briefly)."""
    started = time.perf_counter()
    answer = state.predictor.peek(pair)
    if answer is None:
        answer = await anyio.to_thread.run_sync(state.predictor.predict, pair)
    return json_response(prediction_body(answer, started))


@router.get("")
def get_all_predictions(state: StateDep, settings: SettingsDep) -> AllPredictionsResponse:
    """Predictions of every configured pair; a failing pair gets an error entry instead."""
    started = time.perf_counter()
    pairs = list(settings.pairs)
    return AllPredictionsResponse(
        predictions={pair: _one_pair(state, pair) for pair in pairs},
        pairs=pairs,
        timestamp=now_ms(),
        response_time=elapsed_ms(started),
    )


@router.get("/{pair}/history", responses=PAIR_ERRORS)
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
        predictions=[record_body(r) for r in records],
        count=len(records),
        live_accuracy=LiveAccuracy.model_validate(state.store.live_accuracy(pair)),
        timestamp=now_ms(),
    )


def _one_pair(state: ServingState, pair: str) -> PredictionResponse | PairError:
    started = time.perf_counter()
    try:
        return prediction_body(state.predictor.predict(pair), started)
    except Exception as exc:  # one pair's failure must not fail the others
        status, code, message = classify(exc)
        return PairError(error=code, message=message, status=status)


def json_response(body: BaseModel) -> Response:
    """Serialise a body once with pydantic (FastAPI would validate it again first)."""
    return Response(body.model_dump_json(), media_type="application/json")


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` value)."""
    return round((time.perf_counter() - started) * 1000, 3)


def prediction_body(answer: CacheAnswer, started: float) -> PredictionResponse:
    """The seed-compatible prediction body of a computed or cached prediction."""
    served = answer.served
    model = served.model
    metadata = PredictionMetadata.from_object(
        served.latest,
        model_name=model.name,
        version=model.version,
        alias=model.alias,
        run_id=model.info.run_id,
        prediction_id=served.prediction_id,
        promoted=model.promoted,
        promotion=model.info.reason,
    )
    detail = PredictionDetail.from_object(
        served.described, prediction=served.described.probability, metadata=metadata
    )
    return PredictionResponse(
        pair=served.pair,
        prediction=detail,
        timestamp=int(served.computed_at.timestamp() * 1000),
        cached=answer.cached,
        cache_age=int(answer.age_s * 1000) if answer.cached else None,
        response_time=elapsed_ms(started),
    )


def record_body(record: PredictionRecord) -> PredictionRecordOut:
    """A stored prediction with whether it was right (once realised)."""
    return PredictionRecordOut.model_validate(record, from_attributes=True)
