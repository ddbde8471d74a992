"""``/api/predictions``: latest prediction (one pair or all), history, out-of-sample series.

``/{pair}/out-of-sample`` answers the served version's out-of-sample predictions (backtests).

A fresh cache hit of ``GET /api/predictions/{pair}`` is answered on the event loop; anything
else blocks (pandas, Keras, SQLite) and runs in the threadpool.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, BeforeValidator

from mlpkg.config import DEFAULT_HORIZON, model_key, split_model_key
from mlpkg.errors import ChallengerNotFoundError
from mlpkg.models.signals import describe_prediction
from mlpkg.serving.bodies import accuracy_body
from mlpkg.serving.deps import MetricsDep, PairDep, SettingsDep, StateDep
from mlpkg.serving.errors import MEMBER_ERRORS, PAIR_ERRORS, SOURCE_ERRORS, classify
from mlpkg.serving.metrics import ServingMetrics
from mlpkg.serving.predictor import CacheAnswer, ServedPrediction
from mlpkg.serving.schemas import (
    AllPredictionsResponse,
    EnsembleDetail,
    FamilyName,
    HistoryResponse,
    LiveAccuracy,
    OutOfSampleResponse,
    OutOfSampleRow,
    PairError,
    PredictionDetail,
    PredictionMetadata,
    PredictionRecordOut,
    PredictionResponse,
    now_ms,
)
from mlpkg.serving.state import ServingState
from mlpkg.storage import PredictionRecord
from mlpkg.storage.predictions import Role

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


ModelQuery = Annotated[
    FamilyName | None,
    Query(
        alias="model",
        description="Answer with this member's own prediction (a family of the served "
        "version, e.g. gru); 404 unknown_member if the version does not hold it.",
    ),
]
IntervalQuery = Annotated[
    Literal["15m", "1h", "4h", "1d"],
    Query(description="The model's candle interval (another model of the pair: 404 names them)."),
]
HorizonQuery = Annotated[
    int, Query(ge=1, le=100, description="The model's horizon in candles (default 5).")
]
AliasQuery = Annotated[
    Literal["challenger"] | None,
    Query(
        description="challenger: the pending challenger's shadow predictions instead of the "
        "served ones (never the default answer)."
    ),
]
EnsembleQuery = Annotated[
    bool,
    Query(
        description="false: an ensemble version answers with its best single member (lowest "
        "development log loss) instead of the combination."
    ),
]


@router.get(
    "/{pair}", response_model=PredictionResponse | PredictionRecordOut, responses=MEMBER_ERRORS
)
async def get_prediction(
    pair: PairDep,
    state: StateDep,
    metrics: MetricsDep,
    model: ModelQuery = None,
    ensemble: EnsembleQuery = True,
    interval: IntervalQuery = "1h",
    horizon: HorizonQuery = DEFAULT_HORIZON,
    alias: AliasQuery = None,
) -> Response:
    """P(up) for the pair's latest candle from the served model (cached briefly).

    ``?model=<family>`` answers that member's own prediction, ``?ensemble=false`` the best
    single member of an ensemble; the seed's ``strategy`` parameter is ignored (the weights
    were chosen at registration). ``?alias=challenger`` answers the newest stored shadow
    prediction of the pending challenger (a stored-prediction body, ``role`` challenger).
    ``?interval=4h&horizon=6`` asks the pair's model for that interval and horizon
    (``mlpkg-BTC-4h-h6``; the default 1h, h=5 is ``mlpkg-BTC``).
    """
    if alias is not None:
        return await anyio.to_thread.run_sync(_challenger_latest, state, pair)
    started = time.perf_counter()
    key = model_key(pair, interval, horizon)
    if key != pair:
        other = partial(
            state.predictor.predict_model, pair, key, model_param=model, ensemble=ensemble
        )
        served = await anyio.to_thread.run_sync(other)
        return json_response(counted_body(metrics, served, started))
    answer = state.predictor.peek(pair, model_param=model, ensemble=ensemble)
    if answer is None:
        predict = partial(state.predictor.predict, pair, model_param=model, ensemble=ensemble)
        answer = await anyio.to_thread.run_sync(predict)
    return json_response(counted_body(metrics, answer, started))


@router.get("")
def get_all_predictions(
    state: StateDep, settings: SettingsDep, metrics: MetricsDep
) -> AllPredictionsResponse:
    """Predictions of every configured pair; a failing pair gets an error entry instead."""
    started = time.perf_counter()
    pairs = list(settings.pairs)
    return AllPredictionsResponse(
        predictions={pair: _one_pair(state, metrics, pair) for pair in pairs},
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
    alias: AliasQuery = None,
) -> HistoryResponse:
    """Served predictions of the pair, newest first, with realised outcomes and live accuracy.

    ``liveAccuracy`` is the served version's, over unique candles (one prediction per candle).
    ``?alias=challenger``: the challenger's shadow predictions instead (``role`` challenger).
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    role: Role = "challenger" if alias == "challenger" else "served"
    records = state.store.history(pair, limit=limit, since=since, role=role)
    return HistoryResponse(
        pair=pair,
        predictions=[record_body(r) for r in records],
        count=len(records),
        live_accuracy=pair_accuracy(state, pair),
        live_accuracy_by_version=versions_accuracy(state, pair),
        timestamp=now_ms(),
    )


def _challenger_latest(state: ServingState, pair: str) -> Response:
    records = state.store.history(pair, limit=1, role="challenger")
    if not records:
        raise ChallengerNotFoundError(
            f"{pair} has no shadow prediction of a challenger yet: see "
            f"GET /api/models/{pair}/challenger."
        )
    return json_response(record_body(records[0]))


@router.get("/{pair}/out-of-sample", responses=SOURCE_ERRORS)
def get_out_of_sample(
    pair: PairDep,
    state: StateDep,
    start: Annotated[
        datetime | None,
        BeforeValidator(require_date_time),
        Query(alias="from", description="First candle (ISO-8601 date-time, UTC if no offset)."),
    ] = None,
    end: Annotated[
        datetime | None,
        BeforeValidator(require_date_time),
        Query(alias="to", description="Last candle (ISO-8601 date-time, UTC if no offset)."),
    ] = None,
) -> OutOfSampleResponse:
    """The served version's out-of-sample P(up) per candle: development folds, then holdout.

    Read from its MLflow run once per version. Each row was predicted by a model fitted only on
    candles before it (``trainedThrough`` < ``openTime``): use it to backtest without
    look-ahead.
    """
    model = state.models.get(pair)
    table = state.live.out_of_sample(model)
    times = table["open_time"]
    keep = times.notna()
    if start is not None:
        keep &= times >= (start if start.tzinfo else start.replace(tzinfo=UTC))
    if end is not None:
        keep &= times <= (end if end.tzinfo else end.replace(tzinfo=UTC))
    chosen = table[keep]
    strong, normal = model.thresholds(state.settings)
    records = chosen.astype(object).where(chosen.notna(), None).to_dict("records")
    rows = [
        OutOfSampleRow.model_validate(
            {**row, "signal": _signal(row["probability"], strong, normal)}
        )
        for row in records
    ]
    return OutOfSampleResponse(
        pair=pair,
        model_version=model.version,
        run_id=model.info.run_id,
        candidate=model.bundle.candidate,
        horizon=model.bundle.run_config.horizon,
        rows=rows,
        count=len(rows),
        timestamp=now_ms(),
    )


def _signal(probability: float | None, strong: float, normal: float) -> str | None:
    if probability is None:
        return None
    return describe_prediction(probability, strong=strong, normal=normal).signal


def pair_accuracy(state: ServingState, pair: str) -> LiveAccuracy:
    """The served version's live accuracy (all versions summed when none is loaded)."""
    model = state.models.peek(pair)
    if model is None:
        return LiveAccuracy.model_validate(state.store.live_accuracy(pair))
    return accuracy_body(state.store, pair, model)


def versions_accuracy(state: ServingState, pair: str) -> list[LiveAccuracy]:
    """Live accuracy of every version that predicted for the pair (counters, no scan)."""
    model = state.models.peek(pair)
    return [
        accuracy_body(state.store, pair, model, version)
        for version in state.store.accuracy_by_version(pair)
    ]


def _one_pair(
    state: ServingState, metrics: ServingMetrics, pair: str
) -> PredictionResponse | PairError:
    started = time.perf_counter()
    try:
        return counted_body(metrics, state.predictor.predict(pair), started)
    except Exception as exc:  # one pair's failure must not fail the others
        status, code, message = classify(exc)
        return PairError(error=code, message=message, status=status)


def json_response(body: BaseModel) -> Response:
    """Serialise a body once with pydantic (FastAPI would validate it again first)."""
    return Response(body.model_dump_json(), media_type="application/json")


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` value)."""
    return round((time.perf_counter() - started) * 1000, 3)


def counted_body(
    metrics: ServingMetrics, answer: CacheAnswer, started: float
) -> PredictionResponse:
    """The prediction body, counted in ``/metrics`` (``mlpkg_predictions_total``)."""
    body = prediction_body(answer, started)
    latest = answer.served.latest
    metrics.count_prediction(
        body.pair,
        body.prediction.metadata.version,
        latest.member or latest.candidate,
        body.prediction.signal,
        cached=answer.cached,
    )
    return body


def _ensemble_detail(served: ServedPrediction) -> EnsembleDetail:
    bundle = served.model.bundle
    total = sum(bundle.weights.values())
    individual = served.latest.individual
    return EnsembleDetail(
        strategy=bundle.candidate,
        model_count=len(bundle.members),
        individual_predictions=individual,
        individual_confidences={m: abs(p - 0.5) * 2 for m, p in individual.items()},
        weights={m: w / total for m, w in bundle.weights.items()},
    )


def prediction_body(answer: CacheAnswer, started: float) -> PredictionResponse:
    """The seed-compatible prediction body of a computed or cached prediction.

    ``modelType`` is the family that answered or ``ensemble``; an ensemble answer adds each
    member's P(up) (``individual``) and the seed's ``ensemble`` object.
    """
    served = answer.served
    model = served.model
    member = served.latest.member
    combined = member is None and model.bundle.is_ensemble
    metadata = PredictionMetadata.from_object(
        served.latest,
        model_name=model.name,
        version=model.version,
        alias=model.alias,
        run_id=model.info.run_id,
        prediction_id=served.prediction_id,
        promoted=model.promoted,
        promotion=model.info.reason,
        ood=None if served.ood is None else bool(served.ood),
        ood_features=served.ood or [],
        runtime=model.bundle.runtimes[member] if member else model.runtime,
        type="ensemble_prediction" if combined else "individual_prediction",
    )
    detail = PredictionDetail.from_object(
        served.described,
        prediction=served.described.probability,
        metadata=metadata,
        model_type="ensemble" if combined else (member or model.bundle.candidate),
        individual=served.latest.individual if combined else None,
        ensemble=_ensemble_detail(served) if combined else None,
    )
    parsed = split_model_key(served.pair)
    return PredictionResponse(
        pair=parsed[0] if parsed else served.pair,
        prediction=detail,
        timestamp=int(served.computed_at.timestamp() * 1000),
        cached=answer.cached,
        cache_age=int(answer.age_s * 1000) if answer.cached else None,
        response_time=elapsed_ms(started),
    )


def record_body(record: PredictionRecord) -> PredictionRecordOut:
    """A stored prediction with whether it was right (once realised)."""
    return PredictionRecordOut.model_validate(record, from_attributes=True)
