"""Turn internal results and storage records into response bodies (no I/O)."""

from __future__ import annotations

import time
from datetime import UTC

from fastapi import Response
from pydantic import BaseModel

from mlpkg.serving.handlers import classify
from mlpkg.serving.predictor import CacheAnswer, LatestFeatures
from mlpkg.serving.schemas import (
    FeaturesResponse,
    FeatureValues,
    JobOut,
    PairError,
    PredictionDetail,
    PredictionMetadata,
    PredictionRecordOut,
    PredictionResponse,
)
from mlpkg.storage import JobRecord, PredictionRecord


def json_response(body: BaseModel) -> Response:
    """Serialise a body once with pydantic (FastAPI would validate it again first)."""
    return Response(body.model_dump_json(), media_type="application/json")


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` value)."""
    return round((time.perf_counter() - started) * 1000, 3)


def prediction_view(answer: CacheAnswer, started: float) -> PredictionResponse:
    """The seed-compatible prediction body."""
    served = answer.served
    latest, described, model = served.latest, served.described, served.model
    metadata = PredictionMetadata(
        model_name=model.name,
        version=model.version,
        alias=model.alias,
        run_id=model.info.run_id,
        feature_count=latest.feature_count,
        candle_time=latest.candle_time.to_pydatetime(),
        target_time=latest.target_time.to_pydatetime(),
        horizon=latest.horizon,
        prediction_id=served.prediction_id,
    )
    detail = PredictionDetail(
        prediction=described.probability,
        probability=described.probability,
        confidence=described.confidence,
        direction=described.direction,
        signal=described.signal,
        metadata=metadata,
    )
    return PredictionResponse(
        pair=served.pair,
        prediction=detail,
        timestamp=int(served.computed_at.timestamp() * 1000),
        cached=answer.cached,
        cache_age=int(answer.age_s * 1000) if answer.cached else None,
        response_time=elapsed_ms(started),
    )


def pair_error_view(exc: Exception) -> PairError:
    """A per-pair error inside the all-pairs answer."""
    status, code, message = classify(exc)
    return PairError(error=code, message=message, status=status)


def features_view(features: LatestFeatures, timestamp: int) -> FeaturesResponse:
    """The features body (all values, not only the first ten as in the seed)."""
    values = FeatureValues(
        count=len(features.names),
        names=features.names,
        values=features.values,
        candle_time=features.candle_time.to_pydatetime(),
        model_version=features.model_version,
    )
    return FeaturesResponse(pair=features.pair, features=values, timestamp=timestamp)


def record_view(record: PredictionRecord) -> PredictionRecordOut:
    """A stored prediction with whether it was right (once realised)."""
    correct = (
        None if record.realised_direction is None else record.realised_direction == record.direction
    )
    return PredictionRecordOut(
        id=record.id or 0,
        predicted_at=record.predicted_at,
        candle_time=record.candle_time,
        horizon=record.horizon,
        target_time=record.target_time,
        probability=record.probability,
        direction=record.direction,
        confidence=record.confidence,
        signal=record.signal,
        model_name=record.model_name,
        model_version=record.model_version,
        run_id=record.run_id,
        close_at_prediction=record.close_at_prediction,
        realised_direction=record.realised_direction,
        realised_close=record.realised_close,
        realised_at=record.realised_at,
        correct=correct,
    )


def job_view(job: JobRecord) -> JobOut:
    """A training job body."""
    return JobOut(
        id=job.id,
        pair=job.pair,
        status=job.status.value,
        params=job.params,
        created_at=job.created_at.astimezone(UTC),
        started_at=job.started_at,
        finished_at=job.finished_at,
        run_id=job.run_id,
        model_version=job.model_version,
        promoted=job.promoted,
        metrics=job.metrics,
        error=job.error,
    )
