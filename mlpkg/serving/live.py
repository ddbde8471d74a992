"""The live loop: score every pair once per closed candle, settle outcomes, watch drift, push.

``run_live`` (a task of the app's lifespan, unless ``MLPKG_LIVE_SCORING=false``) repeats
``LiveService.step`` in a worker thread and publishes what it produced on the event loop:

1. For each pair with a loaded model, read its closed candles (service clock). Every candle
   newer than the last one scored is scored once (``Predictor``; the store keeps one
   prediction per pair, version and candle, so a request that scored it first is reused). A
   new version (hot swap) starts with the latest candle. At most ``MAX_CATCHUP`` missed
   candles are scored in one step; older ones are skipped and counted.
2. Outcomes whose target candle has closed are settled, candle by candle before each new
   prediction (as at that candle's close), so a catch-up settles its own targets too.
3. The drift monitor recomputes PSI and the accuracy alert (``mlpkg.serving.drift``); with
   ``MLPKG_RETRAIN_ON_DRIFT`` an alert queues a retrain (trigger ``drift``).
4. Periodic retrains that are due are queued (``TrainingWorker.tick``). A pending challenger
   scores each candle in shadow and its live test is updated (``mlpkg.serving.challenge``).
5. Each new prediction's message (with the outcomes it settled and the version's live
   accuracy), and each challenger decision, is appended to the live event log
   (``LiveEventStore``); every API worker follows the log and pushes it to its WebSocket
   subscribers (``mlpkg.serving.hub``).

Only the process holding the leader lease runs this loop (``mlpkg.serving.lease``). The event
log is also its cursor: a process that takes the lease resumes each pair after the last candle
logged for the served version, so a leader's death neither repeats nor skips a candle.

It then sleeps until the next candle is due to close (replay: that time divided by the speed),
at most ``MLPKG_LIVE_POLL_S`` (file and core are re-read at that pace until it appears).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio.to_thread
import pandas as pd

from mlpkg.config import HoldoutConfig, Settings, split_model_key
from mlpkg.data.replay import Clock, ReplayClock, WallClock, holdout_share_start
from mlpkg.errors import MlpkgError
from mlpkg.serving.bodies import accuracy_body, drift_body
from mlpkg.serving.challenge import ChallengeService
from mlpkg.serving.drift import DriftMonitor, PairDrift
from mlpkg.serving.feed import CandleFeed
from mlpkg.serving.hub import PredictionHub
from mlpkg.serving.model_cache import LoadedModel, ModelCache
from mlpkg.serving.predictor import Predictor, ServedPrediction
from mlpkg.serving.schemas import (
    LiveMessage,
    PredictionRecordOut,
    now_ms,
)
from mlpkg.serving.worker import TrainingWorker
from mlpkg.storage import PredictionRecord, PredictionStore
from mlpkg.storage.events import LiveEventStore
from mlpkg.tracking.history import out_of_sample

log = logging.getLogger(__name__)

MAX_CATCHUP = 200
"""Most missed candles one step scores for a pair (older ones are skipped and counted)."""
MIN_WAIT_S = 0.02
"""Shortest pause between steps."""
PRUNE_EVERY = 1000
"""Events logged between two prunings of the event log (it keeps ``KEEP_EVENTS``)."""


def make_clock(settings: Settings) -> Clock:
    """A ``ReplayClock`` under ``MLPKG_DATA_SOURCE=replay`` (started at open), else the wall."""
    if settings.data_source == "replay":
        return ReplayClock(settings.replay_speed)
    return WallClock()


@dataclass
class PairLive:
    """What the loop knows about one pair."""

    version: str | None = None
    last_scored: pd.Timestamp | None = None
    last_scored_at: datetime | None = None
    scored: int = 0
    skipped: int = 0
    error: str | None = None


@dataclass(frozen=True)
class LiveEvent:
    """A new prediction and the JSON message announcing it."""

    pair: str
    record: PredictionRecord
    message: str


@dataclass
class ReplayInfo:
    """Where the replay clock started and why (notes: caveats about the start)."""

    start: pd.Timestamp
    reason: str
    notes: list[str] = field(default_factory=list)


class LiveService:
    """The live loop's state and its blocking step (see the module docstring).

    Args:
        settings: Machine settings.
        clock: The service clock.
        store: The prediction store.
        models: The model cache.
        feed: The candle feed.
        predictor: The predictor.
        training: The training worker (periodic and drift retrains).
        events: The live event log (the WebSocket fan-out and the resume point).
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        store: PredictionStore,
        models: ModelCache,
        feed: CandleFeed,
        predictor: Predictor,
        training: TrainingWorker,
        events: LiveEventStore,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        self.models = models
        self.feed = feed
        self.predictor = predictor
        self.training = training
        self.events = events
        self._logged = 0
        self.hub = PredictionHub(settings.ws_queue)
        self.monitor = DriftMonitor(settings, store, predictor.references)
        self.challenge = ChallengeService(settings, store, models, predictor, clock)
        self.pairs = {pair: PairLive() for pair in settings.pairs}
        self.extras: dict[str, PairLive] = {}
        """The loop state of the other models of the pairs (``BTC-4h-h6``), once loaded."""
        self.replay: ReplayInfo | None = None
        self._oos: dict[tuple[str, str], pd.DataFrame] = {}
        self._oos_lock = threading.Lock()

    # ------------------------------------------------------------------ replay clock

    def start_clock(self) -> None:
        """Place and start the replay clock (blocking: reads candles). No-op on the wall clock.

        The start is ``MLPKG_REPLAY_START`` when set. Otherwise it is the first candle no
        served model was fitted on (right after each version's training data, the latest of
        the pairs), so the replay measures out-of-sample predictions; when a version was fitted
        on every candle (nothing left to replay), the start of the default holdout share of the
        data, with a note in ``/api/health``.
        """
        if not isinstance(self.clock, ReplayClock):
            return
        info = self._replay_start()
        interval = self._interval()
        # The clock starts when the first replayed candle has just closed.
        self.clock.start(info.start + interval, self.settings.replay_wall0)
        self.replay = info
        log.info("replay clock starts at %s (%s)", info.start + interval, info.reason)

    def _interval(self) -> pd.Timedelta:
        for pair in self.settings.pairs:
            model = self.models.peek(pair)
            if model is not None:
                return pd.Timedelta(model.bundle.candle_interval)
        return pd.Timedelta(hours=1)

    def _replay_start(self) -> ReplayInfo:
        if self.settings.replay_start:
            return ReplayInfo(pd.Timestamp(self.settings.replay_start), "MLPKG_REPLAY_START")
        starts: list[pd.Timestamp] = []
        notes: list[str] = []
        for pair in self.settings.pairs:
            try:
                candles = self.feed.all_candles(pair)
            except MlpkgError as exc:
                notes.append(f"{pair}: no candles to replay ({exc})")
                continue
            start, note = _pair_start(pair, candles, self.models.peek(pair))
            starts.append(start)
            notes += [note] if note else []
        if not starts:
            raise MlpkgError(
                "Nothing to replay: no configured pair has candles. Check MLPKG_REPLAY_FROM "
                "(shipped, or file with data/<PAIR>.csv) and MLPKG_PAIRS."
            )
        return ReplayInfo(max(starts), "after the served models' training data", notes)

    # ------------------------------------------------------------------ the step

    def step(self) -> tuple[list[LiveEvent], float]:
        """Score new candles, settle, update drift, queue due retrains (blocking).

        Returns:
            The new predictions, and the wall-clock seconds to wait before the next step.
        """
        events: list[LiveEvent] = []
        next_closes: list[pd.Timestamp] = []
        for pair in self.settings.pairs:
            model = self.models.peek(pair)
            if model is None:
                continue
            try:
                events += self._step_pair(pair, model)
            except MlpkgError as exc:
                self.pairs[pair].error = str(exc)
                log.info("live %s: %s", pair, exc)
            last = self.pairs[pair].last_scored
            if last is not None:
                next_closes.append(last + 2 * pd.Timedelta(model.bundle.candle_interval))
        events += self._step_extras(next_closes)
        try:
            self.training.tick()
        except MlpkgError as exc:
            log.warning("periodic retrain check failed: %s", exc)
        for pair, message in self.challenge.drain():  # challengers decided in this step
            self.events.append(pair, f"challenge/{uuid.uuid4().hex}", datetime.now(UTC), message)
        self._logged += len(events)
        if self._logged >= PRUNE_EVERY:  # the log only feeds recent WebSocket pushes
            self._logged = 0
            self.events.prune()
        return events, self._wait(next_closes)

    def _step_pair(self, pair: str, model: LoadedModel) -> list[LiveEvent]:
        state = self.pairs[pair]
        interval = pd.Timedelta(model.bundle.candle_interval)
        candles = self.feed.candles(pair, model.bundle.history_rows, interval)
        if state.version != model.version:
            self.monitor.forget(pair)
        events, due = self._score_new(pair, model, candles, state, shadow=True)
        if due:
            self._watch(pair, model, candles)
            self.challenge.decide(pair, model)
        return events

    def _step_extras(self, next_closes: list[pd.Timestamp]) -> list[LiveEvent]:
        """Score the loaded other models of the configured pairs (``BTC-4h-h6``).

        Each on the pair's closed candles on its own interval, with its own state (resumed
        from the event log under its key); no drift check, retrain or challenger.
        """
        events: list[LiveEvent] = []
        for key, pair in _extra_keys(self.models.keys(), self.settings.pairs):
            model = self.models.peek(key)
            if model is None:
                continue
            state = self.extras.setdefault(key, PairLive())
            try:
                candles = self.predictor.model_candles(pair, model)
                events += self._score_new(key, model, candles, state, shadow=False)[0]
            except MlpkgError as exc:
                state.error = str(exc)
                log.info("live %s: %s", key, exc)
            if state.last_scored is not None:
                step = pd.Timedelta(model.bundle.candle_interval)
                next_closes.append(state.last_scored + 2 * step)
        return events

    def _score_new(
        self, key: str, model: LoadedModel, candles: pd.DataFrame, state: PairLive, *, shadow: bool
    ) -> tuple[list[LiveEvent], bool]:
        """Settle and score the candles of ``key`` newer than the last scored one.

        Args:
            key: The pair, or another model's key (``BTC-4h-h6``): where it is stored.
            model: Its loaded model.
            candles: Its closed candles on the model's interval.
            state: Its loop state.
            shadow: Let a pending challenger score each candle too (default models).

        Returns:
            The new predictions, and whether any candle was due.
        """
        interval = pd.Timedelta(model.bundle.candle_interval)
        if state.version != model.version:
            # First sight of the model in this process: resume after the last logged candle
            # (another leader's); a hot swap starts with the latest candle.
            known = state.version is not None
            resume = None if known else self.events.last_candle(key, _model_key(model))
            state.version, state.last_scored = model.version, _stamp(resume)
        times = _new_candles(pd.DatetimeIndex(candles.index), state.last_scored)
        if len(times) > MAX_CATCHUP:
            state.skipped += len(times) - MAX_CATCHUP
            times = times[-MAX_CATCHUP:]
        self.predictor.fill_outcomes(key, candles)  # older targets (all of them at first)
        closes = candles["close"]
        events = []
        for when in times:
            # As at that candle's close: settle what targets it, then predict from it.
            self.store.fill_outcomes(key, closes.loc[[when]])
            window = candles.loc[:when]
            try:
                served = self.predictor.score_candles(key, model, window)
            except MlpkgError as exc:  # e.g. a window spanning missing candles: skip it
                state.error, state.skipped = str(exc), state.skipped + 1
                state.last_scored = when
                continue
            state.last_scored, state.error = when, None
            state.last_scored_at = datetime.now(UTC)
            state.scored += 1
            events.append(self._event(key, model, served, interval))
            if shadow:
                self.challenge.observe(key, model, window)  # the challenger in shadow, if any
        return events, bool(times)

    def _watch(self, pair: str, model: LoadedModel, candles: pd.DataFrame) -> PairDrift:
        drift = self.monitor.update(model, candles)
        if drift.alert and self.settings.retrain_on_drift:
            self.training.submit_automatic(pair, "drift")
        return drift

    def _event(
        self, pair: str, model: LoadedModel, served: ServedPrediction, interval: pd.Timedelta
    ) -> LiveEvent:
        record = self.store.get(served.prediction_id)
        assert record is not None
        settled = self.store.settled_at(pair, record.candle_time)
        drift = self.monitor.latest(pair)
        message = LiveMessage(
            type="prediction",
            pair=pair,
            prediction=PredictionRecordOut.model_validate(record, from_attributes=True),
            settled=[PredictionRecordOut.model_validate(r, from_attributes=True) for r in settled],
            live_accuracy=accuracy_body(self.store, pair, model),
            drift=drift_body(drift),
            clock=self.clock.now().to_pydatetime(),
            timestamp=now_ms(),
        )
        text = message.model_dump_json()
        self.events.append(pair, _model_key(model), record.candle_time, text)
        return LiveEvent(pair, record, text)

    def _wait(self, next_closes: Sequence[pd.Timestamp]) -> float:
        poll = self.settings.live_poll_s
        if not next_closes:
            return poll
        now = self.clock.now()
        ahead = min(next_closes) - now
        if ahead <= pd.Timedelta(0):  # overdue: the source has not moved on yet
            if isinstance(self.clock, ReplayClock):
                return max(MIN_WAIT_S, min(poll, self.clock.wall_seconds(self._interval())))
            return poll
        return max(MIN_WAIT_S, min(poll, self.clock.wall_seconds(ahead)))

    # ------------------------------------------------------------------ reads

    def drift(self, pair: str) -> PairDrift | None:
        """The pair's latest drift result (no I/O)."""
        return self.monitor.latest(pair)

    def out_of_sample(self, model: LoadedModel) -> pd.DataFrame:
        """The served version's out-of-sample predictions (MLflow, read once per version)."""
        key = (model.pair, model.version)
        with self._oos_lock:
            cached = self._oos.get(key)
        if cached is None:
            cached = out_of_sample(model.info)
            with self._oos_lock:
                self._oos = {k: v for k, v in self._oos.items() if k[0] != model.pair}
                self._oos[key] = cached
        return cached


def _new_candles(index: pd.DatetimeIndex, last: pd.Timestamp | None) -> list[pd.Timestamp]:
    """Candles after ``last`` (only the latest one when nothing was scored yet)."""
    if len(index) == 0:
        return []
    if last is None:
        return [pd.Timestamp(index[-1])]
    return [pd.Timestamp(t) for t in index[index > last]]


def _extra_keys(keys: Sequence[str], pairs: Sequence[str]) -> list[tuple[str, str]]:
    """``(key, pair)`` of the other models (``BTC-4h-h6``) of the configured ``pairs``."""
    found = []
    for key in keys:
        parts = split_model_key(key)
        if key not in pairs and parts is not None and parts[0] in pairs:
            found.append((key, parts[0]))
    return found


def _pair_start(
    pair: str, candles: pd.DataFrame, model: LoadedModel | None
) -> tuple[pd.Timestamp, str | None]:
    """The first candle of a pair to replay, and a caveat (``None`` when out of sample)."""
    index = pd.DatetimeIndex(candles.index)
    fallback = holdout_share_start(index, HoldoutConfig().holdout_fraction)
    trained = getattr(model.bundle, "trained_on", {}) if model is not None else {}
    last = trained.get("last_open_time") if isinstance(trained, dict) else None
    if model is None or not last:
        return fallback, None
    after = index[index > pd.Timestamp(last)]
    if len(after) > 1:
        return pd.Timestamp(after[0]), None
    note = (
        f"{pair}: version {model.version} was fitted on candles up to {last}, the end of the "
        f"replayed data; replaying from {fallback} (the default holdout share): predictions "
        "before that date are not out of sample. Train with data_end before the replay "
        f"start (mlpkg train --pair {pair} --data-end <date>) for an honest replay."
    )
    return fallback, note


async def run_live(live: LiveService, *, settings: Settings) -> None:
    """Run ``live.step`` forever (in a thread); until cancelled (leader only).

    The step logs its events; ``mlpkg.serving.hub.follow_events`` publishes them.
    """
    while True:
        try:
            _, wait = await anyio.to_thread.run_sync(live.step)
        except Exception:  # the loop must survive anything one step does
            log.exception("live step failed")
            wait = settings.live_poll_s
        await asyncio.sleep(wait)


def _model_key(model: LoadedModel) -> str:
    """The event log's name of a served model version: ``mlpkg-BTC/3``."""
    return f"{model.name}/{model.version}"


def _stamp(when: datetime | None) -> pd.Timestamp | None:
    return None if when is None else pd.Timestamp(when)
