"""Training jobs: one worker thread runs them one at a time; manual, periodic and drift triggers.

``train_pair`` is CPU-heavy and blocking, so it runs in this thread, never on the event loop.
Every transition is committed to the ``JobStore``. At start-up a job left running by a dead
process is marked failed ("the process stopped while the job ran") and the jobs left queued
are queued again (``JobStore.recover``). After a job succeeds, ``on_trained(pair)`` reloads the
pair's alias, so a candidate that passed the promotion rule is served at once (hot swap).

What queues a job (its ``trigger``):

- ``manual``: ``POST /api/train/{pair}`` (always queued; no cooldown).
- ``periodic``: every ``MLPKG_RETRAIN_EVERY`` per pair (``PeriodicSchedule``), when enabled.
- ``drift``: a drift alert, when ``MLPKG_RETRAIN_ON_DRIFT`` is set.

An automatic job (periodic or drift) is skipped while the pair has a job queued or running,
during the pair's cooldown (``MLPKG_RETRAIN_COOLDOWN``, 30 min) after its last job finished or
after an automatic job of the pair was cancelled while queued, and, under replay, when no
candle closed since the last automatic job (a replay that reached the end of its data).
Times are the service clock's: replayed time under ``MLPKG_DATA_SOURCE=replay``. An automatic
job retrains the served version's run config on the data available now; under replay every job
stops at the replay clock (``data_end`` = the last closed candle), so no model sees the future.
An automatic job's version becomes the pair's ``challenger`` (``mlpkg.tracking.challengers``):
it is promoted only on live shadow outcomes (``mlpkg.serving.challenge``), never on a
re-scored old holdout.

Cancelling (``cancel``): a queued job is cancelled at once; a running one stops at its next
checkpoint (after each walk-forward fit, before the holdout, before the final fit): it ends
``cancelled``, nothing is registered and its MLflow run ends FAILED. Past the last checkpoint
(logging and registering the final model) it finishes normally. Stopping the service cancels a
running job the same way (if the process exits first, it is marked failed at the next start).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlpkg.config import RunConfig, Settings
from mlpkg.data.replay import Clock, WallClock
from mlpkg.errors import ConfigError, JobCancelledError, MlpkgError
from mlpkg.storage import JobRecord, JobStatus, JobStore, JobTrigger

if TYPE_CHECKING:  # the training pipeline (Keras, scikit-learn, matplotlib) loads on first job
    from mlpkg.pipelines.train import TrainResult

log = logging.getLogger(__name__)

STOP_JOIN_S = 5.0
"""How long ``stop`` waits for the worker; a running training is left to the daemon thread."""
_AUTOMATIC_DROPPED = ("pair", "source", "data_end")
"""Run-config fields an automatic job never copies from the served version."""


def run_config_for(pair: str, params: Mapping[str, Any], settings: Settings) -> RunConfig:
    """Validate run-config overrides for a pair (the source defaults to the served one).

    Raises:
        ConfigError: on an unknown name, an invalid value, or a ``pair`` that is not ``pair``.
    """
    given = params.get("pair")
    if given is not None and str(given).strip().upper() != pair:
        raise ConfigError(
            f"The body names pair {given!r} but the URL names {pair!r}: drop 'pair' from the body."
        )
    overrides = {k: v for k, v in params.items() if k != "pair"}
    overrides.setdefault("source", settings.data_source)
    return RunConfig.from_flat(**overrides, pair=pair)


def served_params(config: RunConfig | None) -> dict[str, Any]:
    """The run-config fields of a served version that differ from the defaults (for retraining).

    The pair, the source and ``data_end`` are left out: a retrain reads the data available now.
    """
    if config is None:
        return {}
    defaults = RunConfig(pair=config.pair).to_flat()
    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in config.to_flat().items()
        if k not in _AUTOMATIC_DROPPED and v != defaults.get(k)
    }


def job_metrics(result: TrainResult) -> dict[str, Any]:
    """The summary a finished job keeps: the candidate, its two periods, the decision."""
    candidate = result.bundle.candidate
    dev = result.development.report.summary.loc[candidate]
    holdout = result.holdout.metrics.loc[candidate]
    return {
        "candidate": candidate,
        "dev_log_loss_mean": float(dev["log_loss_mean"]),
        "dev_accuracy_mean": float(dev["accuracy_mean"]),
        "holdout_log_loss": float(holdout["log_loss"]),
        "holdout_accuracy": float(holdout["accuracy"]),
        "holdout_uses": result.holdout.uses,
        "promotion_reason": result.decision.reason,
        "conditions": result.decision.lines(),
    }


@dataclass(frozen=True)
class AutoOutcome:
    """What an automatic trigger did for one pair: a job id, or why it was skipped."""

    pair: str
    trigger: str
    job_id: str | None = None
    reason: str = ""

    @property
    def queued(self) -> bool:
        """Whether a job was queued."""
        return self.job_id is not None


@dataclass
class PeriodicSchedule:
    """When each pair's periodic retrain is due (service clock; in memory, reset at start).

    Attributes:
        every_s: The period in seconds (``None``: never configured).
        enabled: Whether it runs (``MLPKG_RETRAIN_EVERY`` set, or toggled on).
        next_due: Pair -> next due time.
        last: Pair -> the latest outcome.
    """

    every_s: float | None
    enabled: bool
    next_due: dict[str, pd.Timestamp] = field(default_factory=dict)
    last: dict[str, AutoOutcome] = field(default_factory=dict)
    last_run_at: pd.Timestamp | None = None

    def due(self, pairs: tuple[str, ...], now: pd.Timestamp) -> list[str]:
        """The pairs due at ``now``; their next due time moves one period on."""
        if not self.enabled or not self.every_s:
            return []
        period = pd.Timedelta(seconds=self.every_s)
        due = []
        for pair in pairs:
            when = self.next_due.setdefault(pair, now + period)
            if now >= when:
                due.append(pair)
                self.next_due[pair] = now + period
        return due


class TrainingWorker:
    """A single thread consuming a queue of training job ids, and the automatic triggers.

    Args:
        settings: Machine settings passed to ``train_pair`` (and the retrain settings).
        jobs: The job store (open).
        on_trained: Called with the pair after a job succeeded (e.g. reload its model).
        clock: The service clock (replayed time under replay); the wall clock by default.
        served_config: The run config of the version served for a pair (``None``: none).
        data_end: Under replay, the last closed candle of a pair (jobs stop there).
    """

    def __init__(
        self,
        settings: Settings,
        jobs: JobStore,
        on_trained: Callable[[str], object],
        *,
        clock: Clock | None = None,
        served_config: Callable[[str], RunConfig | None] | None = None,
        data_end: Callable[[str], pd.Timestamp | None] | None = None,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.on_trained = on_trained
        self.clock: Clock = clock or WallClock()
        self.served_config = served_config or (lambda pair: None)
        self.data_end = data_end
        self.cooldown = pd.Timedelta(seconds=settings.retrain_cooldown)
        every = settings.retrain_every
        self.periodic = PeriodicSchedule(every_s=every, enabled=every is not None)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._cancel_reason = "cancelled by an operator"
        self._submit_lock = threading.Lock()
        self._cooldown_until: dict[str, pd.Timestamp] = {}
        self._last_end: dict[str, pd.Timestamp] = {}  # replay: data end of the last auto job
        self.running_job: str | None = None
        self.running_stage: str | None = None

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def queued(self) -> int:
        """Jobs waiting for the worker (cancelled ones excluded)."""
        return sum(1 for job in self.jobs.active() if job.status == JobStatus.QUEUED)

    def start(self) -> None:
        """Queue the jobs a previous process left queued, then start the worker thread (once)."""
        if self._thread is None:
            for job_id in self.jobs.recover():
                self._queue.put(job_id)
            self._thread = threading.Thread(target=self._loop, name="mlpkg-training", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the worker: a running job stops at its next checkpoint; wait briefly for it.

        A job still running when the process exits is marked failed at the next start.
        """
        if self._thread is not None:
            self._cancel_reason = "the service stopped"
            self._cancel.set()
            self._queue.put(None)
            self._thread.join(STOP_JOIN_S)
            if self._thread.is_alive():
                log.warning("training job %s still running at shutdown", self.running_job)
            self._thread = None

    def submit(
        self, pair: str, params: Mapping[str, Any], trigger: JobTrigger = "manual"
    ) -> tuple[str, dict[str, Any]]:
        """Validate and queue a training job; return its id and the stored parameters.

        Under replay, ``data_end`` defaults to the last closed candle (the replay clock).

        Raises:
            ConfigError: on invalid parameters (nothing is queued).
        """
        params = dict(params)
        end = self.data_end(pair) if self.data_end is not None else None
        if end is not None and "data_end" not in params:
            params["data_end"] = pd.Timestamp(end).isoformat()
        config = run_config_for(pair, params, self.settings)
        stored = {k: v for k, v in config.to_flat().items() if k in params or k == "source"}
        stored.pop("pair", None)
        job_id = self.jobs.create(pair, stored, trigger)
        self._queue.put(job_id)
        return job_id, stored

    def submit_automatic(self, pair: str, trigger: JobTrigger) -> AutoOutcome:
        """Queue a periodic or drift retrain of the served recipe, unless busy or cooling down."""
        with self._submit_lock:
            reason = self._skip_reason(pair)
            if reason:
                log.info("%s retrain of %s skipped: %s", trigger, pair, reason)
                return AutoOutcome(pair, trigger, reason=reason)
            try:
                job_id, stored = self.submit(pair, served_params(self.served_config(pair)), trigger)
            except MlpkgError as exc:
                return AutoOutcome(pair, trigger, reason=f"not queued: {exc}")
            if "data_end" in stored:
                self._last_end[pair] = pd.Timestamp(stored["data_end"])
        return AutoOutcome(pair, trigger, job_id=job_id)

    def _skip_reason(self, pair: str) -> str:
        busy = [j for j in self.jobs.active() if j.pair == pair]
        if busy:
            return f"job {busy[0].id} for {pair} is already {busy[0].status.value}"
        until = self._cooldown_until.get(pair)
        now = self.clock.now()
        if until is not None and now < until:
            return f"cooldown: {pair} trained recently; next automatic retrain after {until}"
        end = self.data_end(pair) if self.data_end is not None else None
        if end is not None and self._last_end.get(pair) == end:
            return f"no new candle since the last automatic retrain of {pair} (data end {end})"
        return ""

    def cooldowns(self) -> dict[str, pd.Timestamp]:
        """Pair -> end of its cooldown, for the pairs still cooling down."""
        now = self.clock.now()
        return {p: t for p, t in self._cooldown_until.items() if t > now}

    def tick(self) -> list[AutoOutcome]:
        """Queue the periodic retrains that are due (call it regularly, e.g. from the loop)."""
        now = self.clock.now()
        outcomes = [
            self.submit_automatic(pair, "periodic")
            for pair in self.periodic.due(tuple(self.settings.pairs), now)
        ]
        self._remember(outcomes, now)
        return outcomes

    def run_now(self) -> list[AutoOutcome]:
        """Queue a periodic retrain of every pair now (cooldown and busy pairs are skipped)."""
        now = self.clock.now()
        outcomes = [self.submit_automatic(pair, "periodic") for pair in self.settings.pairs]
        self._remember(outcomes, now)
        return outcomes

    def _remember(self, outcomes: list[AutoOutcome], now: pd.Timestamp) -> None:
        for outcome in outcomes:
            self.periodic.last[outcome.pair] = outcome
        if outcomes:
            self.periodic.last_run_at = now

    def set_periodic(self, enabled: bool, every_s: float | None = None) -> PeriodicSchedule:
        """Turn periodic retraining on or off (``every_s`` sets its period).

        Raises:
            ConfigError: when turning it on without any period.
        """
        every = every_s or self.periodic.every_s
        if enabled and not every:
            raise ConfigError(
                'Periodic retraining has no period: give one, e.g. {"enabled": true, '
                '"every": "24h"}, or set MLPKG_RETRAIN_EVERY.'
            )
        self.periodic.every_s = every
        self.periodic.enabled = enabled
        self.periodic.next_due.clear()  # the next run is one full period from now
        return self.periodic

    def cancel(self, job_id: str, reason: str = "") -> JobRecord:
        """Cancel a queued job, or ask the running one to stop at its next checkpoint.

        Raises:
            JobNotFoundError: for an unknown id.
            JobStateError: for a finished job.
        """
        job = self.jobs.cancel(job_id, reason or "Cancelled by an operator before it started.")
        if job.status == JobStatus.RUNNING and job_id == self.running_job:
            self._cancel.set()
        elif job.trigger != "manual":
            self._cool(job.pair)  # not re-queued at once by the trigger that queued it
        return job

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            self.running_job, self.running_stage = job_id, "loading the candles"
            self._cancel_reason = "cancelled by an operator"
            self._cancel.clear()
            try:
                self._execute(job_id)
            finally:
                self.running_job = self.running_stage = None

    def _checkpoint(self, message: str) -> None:
        """``train_pair``'s progress callback: where the job is, and the cancel point."""
        self.running_stage = message
        if self._cancel.is_set():
            raise JobCancelledError(f"{self._cancel_reason}; stopped at: {message}")

    def _execute(self, job_id: str) -> None:
        record = self.jobs.get(job_id)
        if record is None or record.done:
            return
        try:
            self.jobs.start(job_id)
            config = run_config_for(record.pair, record.params, self.settings)
            from mlpkg.pipelines.train import train_pair  # heavy: only when a job runs

            challenge = record.trigger != "manual"  # periodic/drift: a live challenger
            result = train_pair(
                config, self.settings, progress=self._checkpoint, as_challenger=challenge
            )
        except JobCancelledError as exc:
            log.info("training job %s for %s cancelled (%s)", job_id, record.pair, exc)
            self._end(
                job_id,
                record.pair,
                f"Cancelled while running ({exc}); nothing was registered.",
                cancelled=True,
            )
            return
        except Exception as exc:  # a failed training fails its job, never the worker
            log.exception("training job %s for %s failed", job_id, record.pair)
            self._end(job_id, record.pair, f"{type(exc).__name__}: {exc}")
            return
        self.jobs.finish(
            job_id,
            run_id=result.run_id,
            model_version=result.version,
            promoted=result.decision.promote and not challenge,
            metrics={**job_metrics(result), "challenger": challenge},
        )
        self._cool(record.pair)
        try:
            self.on_trained(record.pair)
        except Exception:  # the job succeeded; a reload problem shows in health instead
            log.exception("reloading %s after training job %s failed", record.pair, job_id)

    def _cool(self, pair: str) -> None:
        self._cooldown_until[pair] = self.clock.now() + self.cooldown

    def _end(self, job_id: str, pair: str, error: str, *, cancelled: bool = False) -> None:
        self._cool(pair)
        try:
            if cancelled:
                self.jobs.stop_cancelled(job_id, error)
            else:
                self.jobs.fail(job_id, error)
        except Exception:  # the store itself failed; the job shows as failed after restart
            log.exception("cannot mark training job %s finished", job_id)
