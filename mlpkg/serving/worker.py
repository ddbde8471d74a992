"""Training jobs submitted over HTTP: one worker thread runs them one at a time, the rest queue.

``train_pair`` is CPU-heavy and blocking, so it runs in this thread, never on the event loop.
Every transition is committed to the ``JobStore``. Jobs left queued or running when the
process stops are marked ``interrupted`` at the next start (``JobStore.mark_interrupted``).
After a job finishes, ``on_trained(pair)`` lets the service pick up a moved champion at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from mlpkg.config import RunConfig, Settings
from mlpkg.errors import ConfigError
from mlpkg.pipelines.train import TrainResult, train_pair
from mlpkg.storage import JobStore

log = logging.getLogger(__name__)

STOP_JOIN_S = 5.0
"""How long ``stop`` waits for the worker; a running training is left to the daemon thread."""


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


class TrainingWorker:
    """A single thread consuming a queue of training job ids.

    Args:
        settings: Machine settings passed to ``train_pair``.
        jobs: The job store (open).
        on_trained: Called with the pair after a job succeeded (e.g. reload its model).
    """

    def __init__(
        self, settings: Settings, jobs: JobStore, on_trained: Callable[[str], object]
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.on_trained = on_trained
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.running_job: str | None = None

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def queued(self) -> int:
        """Jobs waiting for the worker."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="mlpkg-training", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the worker to stop after its current job; wait briefly for it."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(STOP_JOIN_S)
            if self._thread.is_alive():
                log.warning("training job %s still running at shutdown", self.running_job)
            self._thread = None

    def submit(self, pair: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Validate and queue a training job; return its id and the stored parameters.

        Raises:
            ConfigError: on invalid parameters (nothing is queued).
        """
        config = run_config_for(pair, params, self.settings)
        stored = {k: v for k, v in config.to_flat().items() if k in params or k == "source"}
        stored.pop("pair", None)
        job_id = self.jobs.create(pair, stored)
        self._queue.put(job_id)
        return job_id, stored

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            self.running_job = job_id
            try:
                self._execute(job_id)
            finally:
                self.running_job = None

    def _execute(self, job_id: str) -> None:
        record = self.jobs.get(job_id)
        if record is None or record.done:
            return
        try:
            self.jobs.start(job_id)
            result = train_pair(
                run_config_for(record.pair, record.params, self.settings), self.settings
            )
        except Exception as exc:  # a failed training fails its job, never the worker
            log.exception("training job %s for %s failed", job_id, record.pair)
            self._fail(job_id, f"{type(exc).__name__}: {exc}")
            return
        self.jobs.finish(
            job_id,
            run_id=result.run_id,
            model_version=result.version,
            promoted=result.decision.promote,
            metrics=job_metrics(result),
        )
        try:
            self.on_trained(record.pair)
        except Exception:  # the job succeeded; a reload problem shows in health instead
            log.exception("reloading %s after training job %s failed", record.pair, job_id)

    def _fail(self, job_id: str, error: str) -> None:
        try:
            self.jobs.fail(job_id, error)
        except Exception:  # the store itself failed; the job shows as interrupted after restart
            log.exception("cannot mark training job %s failed", job_id)
