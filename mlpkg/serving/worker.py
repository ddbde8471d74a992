"""Training jobs: one runner thread starts them one at a time, each in a child process.

The API process never trains: the runner launches ``python -m mlpkg.pipelines.job <id>`` (by
module name, so serving never imports the pipelines, TensorFlow, LightGBM or matplotlib) and
waits for it. The job row in the ``JobStore`` is the shared state: any API worker may queue or
cancel a job; only the process holding the leader lease runs the runner (``start``), which
takes the oldest queued job, marks it running and starts its process. The child writes the
stage it reached and the outcome (``mlpkg.pipelines.job``). After a job succeeded,
``on_trained(pair)`` reloads the pair's alias here (hot swap; other workers follow through
their alias poll). At start-up a job left running by a dead leader is marked failed with its
last stage ("the process stopped while the job ran").

What queues a job (its ``trigger``):

- ``manual``: ``POST /api/train/{pair}`` (always queued; no cooldown).
- ``periodic``: every ``MLPKG_RETRAIN_EVERY`` per pair (``PeriodicSchedule``), when enabled.
  Toggling it (``set_periodic``, from any worker) is stored in the job store and overrides
  the setting until toggled again; the leader adopts it at its next tick (``sync_periodic``).
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

Cancelling (``cancel``): a queued job is cancelled at once; for a running one the request is
recorded on its row and the runner sends its process SIGTERM: it stops where it is, ends
``cancelled`` with its stage, nothing is registered and its MLflow run ends FAILED (once it is
registering its final model it finishes instead). A process that has not exited
``CANCEL_GRACE_S`` after SIGTERM is killed (SIGKILL). A process that dies (SIGKILL, out of
memory) leaves its job failed (cancelled, when a cancel was asked) with its last stage, and its
MLflow run is marked KILLED. Stopping the service cancels a running job the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlpkg.config import RunConfig, Settings
from mlpkg.data.replay import Clock, WallClock
from mlpkg.errors import ConfigError, MlpkgError
from mlpkg.storage import JobRecord, JobStatus, JobStore, JobTrigger, StorageError

log = logging.getLogger(__name__)

JOB_MODULE = "mlpkg.pipelines.job"
"""The module a job's process runs (``python -m``): named, never imported here."""
SETTINGS_ENV = "MLPKG_JOB_SETTINGS"
"""How the job's process gets this server's settings (JSON)."""
CANCEL_GRACE_S = 10.0
"""Seconds between SIGTERM and SIGKILL when a running job is cancelled or the service stops."""
POLL_S = 0.25
"""How often the runner looks for queued jobs and for a cancel request of the running one."""
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
    """When each pair's periodic retrain is due (service clock; due times in memory).

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
    """The job runner (one thread, one child process at a time) and the automatic triggers.

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
        self._applied = ""  # the change stamp of the stored toggle this process applied
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()  # set once, by stop(): the runner never restarts
        self._lifecycle = threading.Lock()  # start() and stop() one at a time
        self._submit_lock = threading.Lock()
        self._cooldown_until: dict[str, pd.Timestamp] = {}
        self._last_end: dict[str, pd.Timestamp] = {}  # replay: data end of the last auto job
        self.running_job: str | None = None
        self.running_pair: str | None = None  # busy until its process is reaped and it cooled
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def started(self) -> bool:
        """Whether the runner thread was started (it may have died since: see ``alive``)."""
        return self._thread is not None

    @property
    def alive(self) -> bool:
        """Whether the runner thread is running (only in the leader)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def running_stage(self) -> str | None:
        """The stage the running job reached (read from its row)."""
        job = self.jobs.get(self.running_job) if self.running_job else None
        return job.stage if job is not None else None

    @property
    def queued(self) -> int:
        """Jobs waiting for the worker (cancelled ones excluded)."""
        return sum(1 for job in self.jobs.active() if job.status == JobStatus.QUEUED)

    def start(self) -> None:
        """Fail the jobs a dead leader left running, then start the runner thread (once).

        Call only in the process holding the leader lease. After :meth:`stop` it does nothing:
        a server stopped while it was becoming the leader has closed the job store already.
        """
        with self._lifecycle:
            if self._thread is not None or self._stopping.is_set():
                return
            queued = self.jobs.recover()
            log.info("training runner starts; %d job(s) queued", len(queued))
            thread = threading.Thread(target=self._loop, name="mlpkg-training", daemon=True)
            thread.start()  # returns once the thread runs: ``started`` never sees it not alive yet
            self._thread = thread

    def stop(self) -> None:
        """Stop the runner for good; a running job's process gets SIGTERM, then SIGKILL.

        Waits for a :meth:`start` in progress (so no runner starts after it), then until the
        job's process has exited (at most ``CANCEL_GRACE_S`` plus a moment).
        """
        with self._lifecycle:
            self._stopping.set()
            self._wake.set()
            thread = self._thread
        if thread is not None:
            thread.join(CANCEL_GRACE_S + 5.0)
            if thread.is_alive():
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
        self._wake.set()
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
        # The job's process writes its outcome before it exits: until the runner has reaped it
        # and started the cooldown, the pair is still busy (else a tick in between re-queues).
        if self.running_pair == pair:
            return f"the last job for {pair} is finishing"
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
        self.sync_periodic()
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
        self._applied = self.jobs.save_schedule(enabled, every)  # every worker sees it
        self._apply_periodic(enabled, every)
        return self.periodic

    def sync_periodic(self) -> PeriodicSchedule:
        """Adopt a toggle made through another worker (read from the job store)."""
        stored = self.jobs.load_schedule()
        if stored is not None and stored[2] != self._applied:
            enabled, every, self._applied = stored
            self._apply_periodic(enabled, every)
        return self.periodic

    def _apply_periodic(self, enabled: bool, every_s: float | None) -> None:
        self.periodic.every_s = every_s
        self.periodic.enabled = enabled
        self.periodic.next_due.clear()  # the next run is one full period from now

    def cancel(self, job_id: str, reason: str = "") -> JobRecord:
        """Cancel a queued job, or ask the running one to stop (any worker may call it).

        The request is recorded on the job's row; the leader's runner sees it within
        ``POLL_S`` and sends the job's process SIGTERM.

        Raises:
            JobNotFoundError: for an unknown id.
            JobStateError: for a finished job.
        """
        job = self.jobs.cancel(job_id, reason or "Cancelled by an operator before it started.")
        if job.status == JobStatus.RUNNING:
            self._wake.set()
        elif job.trigger != "manual":
            self._cool(job.pair)  # not re-queued at once by the trigger that queued it
        return job

    def _loop(self) -> None:
        while not self._stopping.is_set():
            record = self.jobs.next_queued()
            if record is None:
                self._wake.wait(POLL_S)
                self._wake.clear()
                continue
            try:
                self._execute(record)
            except Exception:  # the runner must survive anything one job does
                log.exception("training job %s could not be run", record.id)

    def _execute(self, record: JobRecord) -> None:
        try:
            self.jobs.start(record.id)
        except StorageError:  # cancelled between the read and now
            return
        self.running_job, self.running_pair = record.id, record.pair
        try:
            try:
                self.process = self._launch(record.id)
                code = self._wait(record.id, self.process)
            except OSError as exc:
                self.jobs.fail(record.id, f"The training process could not start: {exc}")
                code = None
            finally:
                self.running_job, self.process = None, None
            self._settle(record, code)
        finally:
            self.running_pair = None

    def _launch(self, job_id: str) -> subprocess.Popen[bytes]:
        """Start the job's process (``python -m mlpkg.pipelines.job``) with these settings."""
        env = {**os.environ, SETTINGS_ENV: self.settings.model_dump_json(exclude={"api_token"})}
        command = [sys.executable, "-m", JOB_MODULE, job_id, "--jobs", str(self.jobs.path)]
        log.info("training job %s: starting %s", job_id, " ".join(command[1:3]))
        return subprocess.Popen(command, env=env)

    def _wait(self, job_id: str, process: subprocess.Popen[bytes]) -> int:
        """Wait for the job's process; SIGTERM it on a cancel request or stop, SIGKILL later."""
        while not self._should_stop(job_id):
            try:
                return process.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                continue
        process.terminate()
        try:
            return process.wait(timeout=CANCEL_GRACE_S)
        except subprocess.TimeoutExpired:
            log.warning(
                "training job %s ignored SIGTERM for %.0f s: SIGKILL", job_id, CANCEL_GRACE_S
            )
            process.kill()
            return process.wait()

    def _should_stop(self, job_id: str) -> bool:
        if self._stopping.is_set():
            with contextlib.suppress(StorageError):
                self.jobs.cancel(job_id, "the service stopped")
            return True
        job = self.jobs.get(job_id)
        return job is not None and job.cancel_requested_at is not None

    def _settle(self, record: JobRecord, code: int | None) -> None:
        """After the process exited: record a death it could not, reload after a success."""
        self._cool(record.pair)
        job = self.jobs.get(record.id)
        if job is None:
            return
        if job.status == JobStatus.RUNNING:  # the process died without writing its outcome
            self._record_death(job, code)
        elif job.status == JobStatus.SUCCEEDED:
            try:
                self.on_trained(record.pair)
            except Exception:  # the job succeeded; a reload problem shows in health instead
                log.exception("reloading %s after training job %s failed", record.pair, job.id)

    def _record_death(self, job: JobRecord, code: int | None) -> None:
        """Mark the dead process's MLflow run KILLED, then its job failed (or cancelled)."""
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        stage = job.stage or "before its first stage"
        self.mark_orphans()  # first, so a finished job never shows beside a RUNNING run
        try:
            if job.cancel_requested_at is not None:
                self.jobs.stop_cancelled(
                    job.id,
                    f"Cancelled: the training process was stopped ({how}) at stage: {stage}.",
                )
            else:
                self.jobs.fail(
                    job.id,
                    f"The training process died ({how}; killed or out of memory) at stage: "
                    f"{stage}. Submit the job again, with fewer rows if memory ran out.",
                )
        except StorageError:
            log.exception("cannot mark training job %s finished", job.id)

    def mark_orphans(self) -> None:
        """Mark orphaned MLflow runs KILLED, in a short process of the job module (blocking).

        A separate process keeps MLflow out of the API process (``mark_orphaned_runs``).
        """
        env = {**os.environ, SETTINGS_ENV: self.settings.model_dump_json(exclude={"api_token"})}
        command = [sys.executable, "-m", JOB_MODULE, "--mark-orphans"]
        try:
            subprocess.run(command, env=env, check=False, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("could not mark the killed job's MLflow run: %s", exc)

    def _cool(self, pair: str) -> None:
        self._cooldown_until[pair] = self.clock.now() + self.cooldown
