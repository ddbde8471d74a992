"""Request and response bodies of the HTTP API (separate from the storage records).

JSON keys are camelCase like the seed service's (``modelType``, ``responseTime``); the Python
attributes are snake_case. Times are ISO-8601 UTC strings, except ``timestamp`` (epoch
milliseconds, as the seed's clients expect).

Response bodies are built from the internal objects with ``model_validate(obj,
from_attributes=True)``, or ``Body.from_object(obj, **extras)`` when a few fields are computed or
named differently: fields are read from the attributes of the same (snake_case) name. Response
bodies look a field up by its Python name first and by its camelCase key second (FastAPI
re-validates the camelCase dump), so reading an object's attributes costs no failed lookups.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mlpkg.config import Family
from mlpkg.models.signals import Direction, Signal
from mlpkg.progress import ProgressKind


def now_ms() -> int:
    """The current time in epoch milliseconds (the ``timestamp`` fields)."""
    return int(time.time() * 1000)


class _Attributes:
    """An object whose attributes are ``extras``, then those of ``source``."""

    def __init__(self, source: object, extras: dict[str, Any]) -> None:
        self.__dict__.update(extras)
        self.__source = source

    def __getattr__(self, name: str) -> Any:
        """Called only for names that are not extras."""
        return getattr(self.__source, name)


def _name_then_camel(name: str) -> AliasChoices:
    return AliasChoices(name, to_camel(name))


class ApiRequest(BaseModel):
    """Base of every request body: camelCase JSON keys (the snake_case names work too)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class ApiModel(BaseModel):
    """Base of every response body: camelCase JSON keys, snake_case attributes."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(
            validation_alias=_name_then_camel, serialization_alias=to_camel
        ),
        serialize_by_alias=True,
        from_attributes=True,
    )

    @classmethod
    def from_object(cls, source: object, /, **extras: Any) -> Self:
        """Build the body from ``source``'s attributes of the same names.

        Args:
            source: A dataclass or any object (a storage record, a loaded model, ...).
            **extras: Fields that ``source`` lacks or names differently; they win over its
                attributes.
        """
        attributes = _Attributes(source, extras) if extras else source
        return cls.model_validate(attributes, from_attributes=True)


class ErrorBody(ApiModel):
    """Every error answer: a stable machine code and a message saying how to fix it."""

    error: str = Field(description="Machine-readable code, e.g. unknown_pair, model_not_found.")
    message: str = Field(description="What is wrong and how to fix it.")
    pairs: list[str] | None = Field(default=None, description="Configured pairs (404 pair).")
    upstream: str | None = Field(default=None, description="The upstream that failed (503).")
    details: list[dict[str, Any]] | None = Field(default=None, description="Field errors (422).")
    members: list[str] | None = Field(
        default=None, description="The members the served version holds (404 unknown_member)."
    )


class PredictionMetadata(ApiModel):
    """Which model answered and what the prediction is about."""

    model_name: str
    version: str
    alias: str
    run_id: str
    feature_count: int
    candle_time: datetime = Field(description="Open time of the last candle the model saw.")
    target_time: datetime = Field(description="Open time of the candle whose close settles it.")
    horizon: int = Field(description="Candles ahead.")
    prediction_id: int | None = Field(description="Row id in the prediction history.")
    promoted: bool = Field(
        default=True,
        description="Whether this version passed the promotion rule (or was promoted by hand). "
        "When false (a candidate served while the pair has no champion) the signal is HOLD.",
    )
    promotion: str = Field(default="", description="The promotion rule's reason for this version.")
    ood: bool | None = Field(
        default=None,
        description="Whether the input lies outside the training ranges: a feature of the "
        "scored candle outside [min, max] of the training rows (null: no reference stored).",
    )
    ood_features: list[str] = Field(
        default_factory=list, description="The features outside their training range."
    )
    candidate: str = Field(
        default="", description="What the served version holds: a family or an ensemble."
    )
    member: str | None = Field(
        default=None,
        description="The member that answered (?model=, or the best one for ?ensemble=false); "
        "null when the version's candidate answered.",
    )
    runtime: str = Field(
        default="",
        description="What computed it: onnxruntime, lightgbm, numpy or keras ('+'-joined for "
        "an ensemble whose members differ).",
    )
    type: Literal["individual_prediction", "ensemble_prediction"] = Field(
        default="individual_prediction",
        description="ensemble_prediction when several members were combined (the seed's type).",
    )


FamilyName = Family
"""A model family, as ``?model=`` takes it (``mlpkg.config.Family``: the OpenAPI enum)."""
ModelType = Literal[Family, "ensemble"]
"""``prediction.modelType``: the family that answered, or ``ensemble`` (members combined)."""


class EnsembleDetail(ApiModel):
    """How an ensemble answered (the seed's ``prediction.ensemble`` object)."""

    strategy: str = Field(description="weighted or stacked (how the weights were chosen).")
    model_count: int
    individual_predictions: dict[str, float] = Field(description="Member -> its own P(up).")
    individual_confidences: dict[str, float] = Field(
        description="Member -> |P(up) - 0.5| * 2 of its own P(up)."
    )
    weights: dict[str, float] = Field(description="Member -> weight (summing to 1).")


class PredictionDetail(ApiModel):
    """The seed-compatible ``prediction`` object."""

    prediction: float = Field(description="P(up) (the field the dashboard reads).")
    probability: float = Field(description="P(up) again (what dashboard v1 read).")
    confidence: float = Field(description="|P(up) - 0.5| * 2: how far the model leans.")
    direction: Direction
    signal: Signal
    model_type: ModelType = Field(
        default="lstm", description="The family that answered, or ensemble (members combined)."
    )
    individual: dict[str, float] | None = Field(
        default=None,
        description="Each member's own P(up) when an ensemble answered (null for one family).",
    )
    ensemble: EnsembleDetail | None = Field(
        default=None, description="Strategy, members and weights when an ensemble answered."
    )
    metadata: PredictionMetadata


class PredictionResponse(ApiModel):
    """Body of ``GET /api/predictions/{pair}``."""

    pair: str
    prediction: PredictionDetail
    timestamp: int = Field(description="When the prediction was computed (epoch ms).")
    cached: bool
    cache_age: int | None = Field(default=None, description="Age of a cached answer (ms).")
    response_time: float = Field(description="Server time spent on this request (ms).")


class PairError(ApiModel):
    """A per-pair failure inside ``GET /api/predictions``."""

    error: str
    message: str
    status: int = Field(description="The HTTP status the single-pair endpoint would answer.")


class AllPredictionsResponse(ApiModel):
    """Body of ``GET /api/predictions``: one entry per configured pair."""

    predictions: dict[str, PredictionResponse | PairError]
    pairs: list[str]
    timestamp: int
    response_time: float


class FeatureValues(ApiModel):
    """The feature row the model scores for the latest candle."""

    count: int
    names: list[str]
    values: list[float | None]
    candle_time: datetime
    model_version: str | None = Field(description="Version whose feature config was used.")


class FeaturesResponse(ApiModel):
    """Body of ``GET /api/features/{pair}``."""

    pair: str
    features: FeatureValues
    timestamp: int
    cached: bool = False


class MemberOut(ApiModel):
    """A member of the loaded version."""

    family: str
    runtime: str = Field(description="onnxruntime, lightgbm, numpy or keras.")
    weight: float = Field(description="Its weight in the combination (1 for a single family).")
    dev_log_loss: float | None = Field(
        default=None, description="Its mean development log loss (null: not recorded)."
    )


class ModelHealth(ApiModel):
    """The model a pair is served with (or why none is)."""

    loaded: bool
    alias: str
    version: str | None = None
    run_id: str | None = None
    loaded_at: datetime | None = None
    age_seconds: float | None = Field(default=None, description="Seconds since it was loaded.")
    registered_at: datetime | None = None
    error: str | None = Field(default=None, description="Last load error, or why none is loaded.")
    note: str | None = Field(
        default=None, description="Set when the served alias is not the configured one."
    )
    candidate: str | None = Field(
        default=None, description="The family or ensemble the loaded version holds."
    )
    runtime: str | None = Field(
        default=None,
        description="What serves it: onnxruntime, lightgbm, numpy or keras ('+'-joined when "
        "the members differ; keras only for versions registered without ONNX).",
    )
    members: dict[str, MemberOut] | None = Field(
        default=None, description="Member -> its runtime, weight and development log loss."
    )


class UpstreamHealth(ApiModel):
    """State of the candle source."""

    source: str
    url: str | None = None
    state: Literal["ok", "error", "unknown"]
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


class StorageHealth(ApiModel):
    """State of the prediction store."""

    state: Literal["ok", "error"]
    path: str
    rows: int | None = None
    error: str | None = None


class TrainingHealth(ApiModel):
    """State of the training worker."""

    worker_alive: bool = Field(description="Whether the job runner runs (in the leader only).")
    running_job: str | None
    queued: int
    leader: bool = Field(
        default=True,
        description="Whether this API process holds the leader lease (job runner, live loop).",
    )
    pid: int | None = Field(default=None, description="This API process's id.")


class HealthResponse(ApiModel):
    """Body of ``GET /api/health`` (always HTTP 200 while the process is up)."""

    status: Literal["healthy", "degraded"]
    reasons: list[str] = Field(description="Why the status is degraded (empty when healthy).")
    service: str = "mlpkg"
    version: str
    timestamp: int
    uptime: str = Field(description="HH:MM:SS since start.")
    uptime_seconds: float
    models: dict[str, ModelHealth]
    upstream: UpstreamHealth
    storage: StorageHealth
    training: TrainingHealth
    live: LiveHealth | None = Field(
        default=None, description="The live loop: clock, candles scored, subscribers."
    )


class VersionOut(ApiModel):
    """A registered version of a pair's model."""

    version: str
    run_id: str
    aliases: list[str]
    log_loss_mean: float | None = Field(
        description="Mean development-fold log loss of the candidate it holds."
    )
    holdout_log_loss: float | None = Field(
        default=None,
        description="Holdout log loss of its procedure refit on the development period (the "
        "served model is refit on every row, the holdout included: it has no holdout score).",
    )
    candidate: str = Field(default="", description="Family or ensemble, e.g. lstm, stacked.")
    decision: str = Field(
        default="", description="What the promotion rule decided: promoted, rejected or manual."
    )
    reason: str = Field(default="", description="The promotion rule's reason.")
    created_at: datetime | None


class LiveAccuracy(ApiModel):
    """Directional accuracy of served predictions whose horizon has passed (unique candles)."""

    model_version: str | None = Field(
        default=None, description="The version it is about (null: all versions summed)."
    )
    n_realised: int
    n_correct: int
    accuracy: float | None
    n_pending: int
    ci95: list[float] | None = Field(
        default=None, description="Wilson 95 % interval of the accuracy [low, high]."
    )
    up_rate: float | None = Field(
        default=None, description="Share of settled candles that went up: always-up's accuracy."
    )
    walk_forward_accuracy: float | None = Field(
        default=None, description="The version's development-fold (walk-forward) accuracy."
    )


class ModelEntry(ApiModel):
    """One registered model of a pair: its (interval, horizon), served version, live accuracy."""

    pair: str
    key: str = Field(description="BTC (the default: 1h, h=5) or BTC-4h-h6.")
    model_name: str
    interval: str
    horizon: int
    calendar: str | None = Field(
        default=None, description="Its trading calendar (null until it is loaded)."
    )
    loaded_version: str | None = Field(default=None, description="The version being served.")
    live_accuracy: LiveAccuracy = Field(description="Its own settled predictions, all versions.")


class ModelListResponse(ApiModel):
    """Body of ``GET /api/models``: every registered model, several per pair possible."""

    models: list[ModelEntry]
    timestamp: int


class SignalPolicyOut(ApiModel):
    """The thresholds the served version answers ``signal`` with, and where they come from."""

    source: Literal["policy", "environment", "fallback"] = Field(
        description="policy: chosen on the version's development folds; environment: "
        "MLPKG_SIGNAL_STRONG/NORMAL; fallback: the seed thresholds (a version without a policy)."
    )
    normal: float = Field(description="Confidence above which the signal is BUY/SELL.")
    strong: float = Field(description="Confidence above which it is STRONG_BUY/STRONG_SELL.")
    mode: Literal["long_flat", "long_short"] = Field(
        description="long_flat: SELL means be flat; long_short: SELL means be short."
    )
    objective: float | None = Field(
        default=None, description="Development objective reached (mean net log return/candle)."
    )
    note: str = ""


class LivePnl(ApiModel):
    """Realised P&L of a version's served signals, from its settled predictions (gross)."""

    model_version: str
    n_settled: int = Field(description="Settled predictions that recorded a position.")
    n_traded: int = Field(description="Those whose signal took a position (not HOLD/flat).")
    gross_return: float = Field(
        description="Sum of position x h-step return / h: each signal a 1/h tranche held h "
        "candles (the holdout backtest's accounting), before fees."
    )
    exposure: float = Field(description="Sum of |position| / h (candles of full exposure).")
    hit_rate: float | None = Field(description="Share of traded tranches that gained.")


class VersionMetricsOut(ApiModel):
    """What a version's training run measured: development folds and holdout, never mixed."""

    version: str
    run_id: str
    candidate: str = Field(description="The family or ensemble the version holds.")
    decision: str = Field(description="promoted, rejected or manual.")
    reason: str = Field(description="The promotion rule's one-line reason.")
    development: dict[str, dict[str, float]] = Field(
        description="model -> metric -> mean over the development folds (candidates and "
        "references: majority, always_up, persistence, logistic)."
    )
    development_spread: dict[str, dict[str, float]] = Field(
        description="model -> log_loss_std (across folds) and log_loss_seed_std (across seeds)."
    )
    holdout: dict[str, dict[str, float]] = Field(
        description="model -> metric on the holdout: the selected candidate and the references."
    )
    holdout_uses: int | None = Field(
        description="k: candidates that had scored rows of that holdout (counted by time "
        "overlap), this one included, when this one was scored."
    )
    holdout_alpha: float | None = Field(
        default=None, description="alpha_k, the DM level that use was held to (alpha spending)."
    )
    significance: dict[str, dict[str, dict[str, float]]] = Field(
        description="dev/holdout -> reference -> one-sided Diebold-Mariano {stat, p}."
    )


class ChallengeOut(ApiModel):
    """A live challenger's evidence (``GET /api/models/{pair}/challenger``).

    ``meanDiff`` is the mean of log loss(challenger) - log loss(reference) over the settled
    shadow candles (negative: the challenger is better), ``[lower, upper]`` its anytime-valid
    interval; a decision needs ``eValue >= threshold`` and the burn-in passed.
    """

    pair: str
    version: str = Field(description="The challenger's registered version.")
    reference: str = Field(description="'champion vN' or 'naive base rate' (no champion).")
    state: Literal["watching", "promoted", "rejected"]
    reason: str
    n: int = Field(description="Settled shadow candles the figures are computed on.")
    settled: int = Field(description="Settled shadow candles so far.")
    scored: int = Field(description="Shadow predictions stored so far (settled or not).")
    mean_diff: float | None
    lower: float | None
    upper: float | None
    long_run_sd: float | None
    e_value: float
    threshold: float
    alpha: float
    horizon: int
    burn_in: int
    max_candles: int
    shadow_from: datetime | None = Field(description="First candle scored in shadow.")
    decided_at: datetime | None = Field(default=None, description="Service clock at decision.")


class ModelStatusResponse(ApiModel):
    """Body of ``GET /api/models/{pair}/status``."""

    pair: str
    model_name: str
    alias: str
    loaded: ModelHealth
    versions: list[VersionOut]
    champion: VersionMetricsOut | None = Field(
        description="The version behind the configured alias (null when there is none)."
    )
    served: VersionMetricsOut | None = Field(
        default=None, description="The version being served (the candidate when no champion)."
    )
    live_accuracy: LiveAccuracy = Field(description="All served predictions of the pair.")
    live_accuracy_loaded_version: LiveAccuracy | None
    live_accuracy_by_version: list[LiveAccuracy] = Field(
        default_factory=list, description="Each version that predicted for the pair."
    )
    signal_policy: SignalPolicyOut | None = Field(
        default=None, description="The thresholds the served version's signal uses."
    )
    live_pnl_by_version: list[LivePnl] = Field(
        default_factory=list, description="Realised P&L of each version's served signals."
    )
    drift: DriftOut | None = Field(
        default=None, description="The latest drift check of the served version (live loop)."
    )
    challenge: ChallengeOut | None = Field(
        default=None, description="The pending (or last decided) live challenger, if any."
    )
    timestamp: int


class ReloadResponse(ApiModel):
    """Body of ``POST /api/models/{pair}/reload``."""

    pair: str
    outcome: Literal["loaded", "unchanged", "failed", "missing"]
    loaded: ModelHealth


# The fields repeat the storage record's (``mlpkg.storage.PredictionRecord``) on purpose: this
# is the published API contract (camelCase, documented, fuzzed), which must not change when the
# store's columns do; ``from_attributes`` fills it from the record.
class PredictionRecordOut(ApiModel):
    """One stored prediction with its outcome (``realised*`` null until the horizon passed)."""

    id: int
    predicted_at: datetime
    candle_time: datetime
    horizon: int
    target_time: datetime
    probability: float
    direction: Direction
    confidence: float
    signal: str
    model_name: str
    model_version: str | None
    run_id: str | None
    close_at_prediction: float
    realised_direction: Direction | None
    realised_close: float | None
    realised_at: datetime | None
    correct: bool | None
    member: str = Field(default="", description="'' for the served candidate, else the member.")
    ood: bool | None = Field(default=None, description="Input outside the training ranges.")
    role: Literal["served", "challenger"] = Field(
        default="served", description="'served' (the default answer) or 'challenger' (shadow)."
    )
    position: float | None = Field(
        default=None,
        description="The position the signal stood for under the version's policy (+ long, "
        "- short, 0 flat); null for rows stored before positions were recorded.",
    )


class HistoryResponse(ApiModel):
    """Body of ``GET /api/predictions/{pair}/history``."""

    pair: str
    predictions: list[PredictionRecordOut]
    count: int
    live_accuracy: LiveAccuracy = Field(
        description="The served version's accuracy over unique candles (all versions summed "
        "when no model is loaded)."
    )
    live_accuracy_by_version: list[LiveAccuracy] = Field(
        default_factory=list, description="Each version that predicted for the pair."
    )
    timestamp: int


class StorageStats(ApiModel):
    """What the prediction store holds."""

    path: str
    rows: int
    rows_per_pair: dict[str, int]
    pending: int
    realised: int
    oldest: datetime | None
    newest: datetime | None
    file_size_bytes: int
    wal_size_bytes: int
    journal_mode: str
    schema_version: int


class StorageStatsResponse(ApiModel):
    """Body of ``GET /api/storage/stats``."""

    storage: StorageStats
    cached_predictions: int
    timestamp: int


class CleanupRequest(ApiRequest):
    """Body of ``POST /api/storage/cleanup``."""

    max_age_hours: float = Field(gt=0, le=1e6, description="Delete predictions older than this.")


class CleanupResponse(ApiModel):
    """Body answered by ``POST /api/storage/cleanup``."""

    message: str
    cleaned_items: int
    max_age_hours: float
    cutoff: datetime
    timestamp: int


class SaveResponse(ApiModel):
    """Body answered by ``POST /api/storage/save``."""

    message: str
    checkpointed_frames: int
    wal_size_bytes_before: int
    wal_size_bytes_after: int
    timestamp: int


class ProgressOut(ApiModel):
    """A job's last progress event (``mlpkg.progress.ProgressEvent``)."""

    kind: ProgressKind = Field(
        description="stage: a pipeline step; fit: one walk-forward fit (done/total count fits)."
    )
    text: str = Field(description="The event as one line (the job's stage).")
    done: int | None = Field(default=None, description="Steps of this kind done so far.")
    total: int | None = Field(default=None, description="Steps of this kind expected.")


class JobOut(ApiModel):
    """A training job."""

    id: str
    pair: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    trigger: Literal["manual", "periodic", "drift"] = "manual"
    params: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    run_id: str | None
    model_version: str | None
    promoted: bool | None
    metrics: dict[str, Any] | None
    error: str | None
    cancel_requested_at: datetime | None = Field(
        default=None, description="When cancelling a running job was asked for."
    )
    stage: str | None = Field(
        default=None, description="The last stage the job's training process reached."
    )
    progress: ProgressOut | None = Field(
        default=None,
        description="The last progress event of the job's training process (stage is its text).",
    )


class TrainAccepted(ApiModel):
    """Body answered by ``POST /api/train/{pair}`` (HTTP 202)."""

    message: str
    job_id: str
    pair: str
    status: Literal["queued"] = "queued"
    params: dict[str, Any]
    status_url: str
    timestamp: int


class JobsResponse(ApiModel):
    """Body of ``GET /api/train/jobs``."""

    jobs: list[JobOut]
    count: int


class DriftOut(ApiModel):
    """The latest drift check of a pair's served version (``mlpkg.serving.drift``)."""

    model_version: str
    candle_time: datetime = Field(description="The newest candle of the window.")
    alert: bool = Field(description="A feature drifted or live accuracy fell below its floor.")
    has_reference: bool = Field(description="Whether the version stored a reference.")
    window: int = Field(description="Candles the PSI was computed over (N).")
    threshold: float = Field(description="PSI above which a feature is flagged.")
    psi_max: float | None
    flagged: list[str] = Field(
        description="Features with PSI above the threshold and above their noise floor."
    )
    psi: dict[str, float] = Field(description="Feature -> PSI over the window.")
    noise_floor: dict[str, float] = Field(
        default_factory=dict,
        description="Feature -> the largest PSI windows this long reached in the training rows.",
    )
    accuracy_window: int | None = Field(description="K: settled predictions checked.")
    accuracy_settled: int = Field(description="Settled predictions in the window (<= K).")
    accuracy_recent: float | None = Field(description="Accuracy over them.")
    walk_forward_accuracy: float | None
    accuracy_floor: float | None = Field(
        description="2.5 % quantile of Binomial(K, walk-forward accuracy) / K."
    )
    accuracy_alert: bool
    computed_at: datetime


class LiveMessage(ApiModel):
    """A ``/ws/predictions`` message: a new prediction, what it settled, live accuracy."""

    type: Literal["prediction"] = "prediction"
    pair: str
    prediction: PredictionRecordOut
    settled: list[PredictionRecordOut] = Field(
        description="Predictions whose target candle is this candle (settled now)."
    )
    live_accuracy: LiveAccuracy
    drift: DriftOut | None
    clock: datetime = Field(description="The service clock (replayed time under replay).")
    timestamp: int


class LivePairHealth(ApiModel):
    """The live loop's view of one pair."""

    model_version: str | None
    last_scored: datetime | None = Field(description="Open time of the last candle scored.")
    last_scored_at: datetime | None
    scored: int
    skipped: int = Field(description="Candles not scored (too far behind, or a gap).")
    error: str | None
    drift_alert: bool | None = None


class LiveHealth(ApiModel):
    """The live loop: its clock and what it scored."""

    enabled: bool
    clock: Literal["wall", "replay"]
    now: datetime
    replay_speed: float | None = None
    replay_start: datetime | None = None
    replay_reason: str | None = None
    notes: list[str] = Field(default_factory=list)
    pairs: dict[str, LivePairHealth]
    subscribers: int
    published: int


class QueuedJobOut(JobOut):
    """A queued job and its place in the queue (1 = next)."""

    position: int


class CooldownOut(ApiModel):
    """A pair on cooldown: no automatic retrain before ``until`` (service clock)."""

    pair: str
    until: datetime
    remaining_seconds: float


class AutoOutcomeOut(ApiModel):
    """What an automatic trigger did for one pair."""

    pair: str
    trigger: str
    status: Literal["queued", "skipped"]
    job_id: str | None
    reason: str


class PeriodicStatus(ApiModel):
    """Periodic retraining (``MLPKG_RETRAIN_EVERY``)."""

    enabled: bool
    every_seconds: float | None
    cooldown_seconds: float
    on_drift: bool = Field(description="MLPKG_RETRAIN_ON_DRIFT: drift alerts queue retrains.")
    clock: Literal["wall", "replay"]
    now: datetime
    next_due: dict[str, datetime] = Field(description="Pair -> next periodic retrain.")
    last_run_at: datetime | None
    last: list[AutoOutcomeOut] = Field(description="The latest outcome per pair.")
    timestamp: int


class QueueResponse(ApiModel):
    """Body of ``GET /api/train/queue``: the one-at-a-time training queue."""

    worker_alive: bool
    running: JobOut | None
    running_stage: str | None = Field(description="Where the running job is (its last step).")
    queued: list[QueuedJobOut]
    recent: list[JobOut] = Field(description="The latest finished jobs, newest first.")
    cooldowns: list[CooldownOut]
    periodic: PeriodicStatus
    timestamp: int


class PeriodicToggle(ApiRequest):
    """Body of ``POST /api/train/periodic/toggle``."""

    enabled: bool
    every: str | None = Field(
        default=None, description="Period when turning it on, e.g. 24h, 30m (default: kept)."
    )


class RunNowResponse(ApiModel):
    """Body of ``POST /api/train/periodic/run-now``."""

    message: str
    results: list[AutoOutcomeOut]
    timestamp: int


class CancelResponse(ApiModel):
    """Body of ``DELETE /api/train/jobs/{id}``."""

    message: str
    job: JobOut
    timestamp: int


class OutOfSampleRow(ApiModel):
    """One candle's out-of-sample P(up) from the version's training run."""

    open_time: datetime
    probability: float
    period: Literal["development", "holdout"]
    fold: int | None = Field(description="Development fold (null in the holdout).")
    trained_through: datetime = Field(
        description="Last candle the model that made it was trained on (< open_time)."
    )
    y_true: float | None = Field(description="1 if the close h candles later was higher.")
    signal: str | None = Field(
        default=None,
        description="The signal the served version's thresholds give this P(up) (the policy's "
        "thresholds were chosen on the development rows: in-sample there, out-of-sample in the "
        "holdout).",
    )


class OutOfSampleResponse(ApiModel):
    """Body of ``GET /api/predictions/{pair}/out-of-sample``."""

    pair: str
    model_version: str
    run_id: str
    candidate: str
    horizon: int
    rows: list[OutOfSampleRow]
    count: int
    timestamp: int


# Bodies above that name models defined after them (forward references).
HealthResponse.model_rebuild()
ModelStatusResponse.model_rebuild()


class ChallengeMessage(ApiModel):
    """A ``/ws/predictions`` message sent when a challenger is decided."""

    type: Literal["challenge"] = "challenge"
    pair: str
    challenge: ChallengeOut
    clock: datetime
    timestamp: int
