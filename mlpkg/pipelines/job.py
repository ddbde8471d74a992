"""One training job in its own process: ``python -m mlpkg.pipelines.job <job id> --jobs <db>``.

The API process (``mlpkg.serving.worker``) starts this module with ``subprocess`` and never
imports it, so TensorFlow, LightGBM and matplotlib load here, never in a server. The machine
settings come from the server as JSON in ``MLPKG_JOB_SETTINGS`` (the server may have been built
from code, not the environment). The job row (``JobStore``) is the only channel back:

- each ``train_pair`` progress event is stored on the job row (``JobStore.set_progress``: its
  text is the job's ``stage``, the event its ``progress``);
- success: ``after_training`` records what the run produced (``JobStore.finish``);
- a training error fails the job with its message;
- SIGTERM (cancel, or the service stopping) only sets a stop flag; training checks it at its
  cancellation checkpoints (``mlpkg.progress.raise_if_stopped``: before every fit, the holdout
  and the final stage, and between the batches of a neural fit), and the job ends ``cancelled``
  with its last stage and the MLflow run ends FAILED. The final stage (refit, register) runs
  under ``cannot_stop``, so a version is never half-registered; the server's grace period then
  ends with SIGKILL;
- if the server dies (this process is re-parented), the job cancels itself the same way.

It runs at a lower CPU priority (``MLPKG_JOB_NICENESS``, +10), so predictions keep the CPU
during a retrain.

A process killed outright (SIGKILL, out of memory) writes nothing: the server then marks the job
failed (or cancelled) with its last stage and runs ``--mark-orphans`` (a fresh process of this
module), which marks the run KILLED in MLflow.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from mlpkg.config import RunConfig, Settings
from mlpkg.errors import JobCancelledError
from mlpkg.progress import ProgressEvent, raise_if_stopped, stage, stop_when
from mlpkg.storage import JobRecord, JobStatus, JobStore

if TYPE_CHECKING:
    from mlpkg.pipelines.train import TrainResult

log = logging.getLogger("mlpkg.job")

SETTINGS_ENV = "MLPKG_JOB_SETTINGS"
"""Environment variable carrying the server's ``Settings`` as JSON."""
EXIT_OK, EXIT_FAILED, EXIT_CANCELLED, EXIT_NOT_RUNNING = 0, 1, 3, 4
PARENT_CHECK_S = 1.0
"""How often the process checks that its server is still alive."""


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


def as_challenger(record: JobRecord) -> bool:
    """Whether the job registers a live challenger (periodic and drift retrains) or may promote."""
    return record.trigger != "manual"


def after_training(jobs: JobStore, record: JobRecord, result: TrainResult) -> None:
    """What happens once a job's training run succeeded (the one place to change it).

    Today: the job is marked succeeded with the run, the version, the promotion decision and
    the summary metrics (``train_pair`` itself registered the version and moved the aliases;
    an automatic retrain's version became the pair's ``challenger``, never promoted here).
    The server reloads the pair when this process exits 0.
    """
    challenge = as_challenger(record)
    jobs.finish(
        record.id,
        run_id=result.run_id,
        model_version=result.version,
        promoted=result.decision.promote and not challenge,
        metrics={**job_metrics(result), "challenger": challenge},
    )


class _Stopper:
    """Records the job's progress; SIGTERM and a lost server set its stop flag (``should_stop``)."""

    def __init__(self, jobs: JobStore, job_id: str) -> None:
        self.jobs, self.job_id = jobs, job_id
        self.stage = "loading the candles"
        self.reason = ""
        self._stop = threading.Event()
        self._parent = os.getppid()

    def progress(self, event: ProgressEvent) -> None:
        """``train_pair``'s progress callback: store the event (its text is the stage)."""
        self.stage = event.text
        self.jobs.set_progress(self.job_id, event)

    def should_stop(self) -> bool:
        """Whether SIGTERM came or the server is gone (training stops at its next checkpoint)."""
        return self._stop.is_set()

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """Ask the run to stop at its next cancellation checkpoint."""
        self.reason = self.reason or "cancelled (SIGTERM)"
        self._stop.set()

    def watch_parent(self) -> None:
        """Ask the run to stop when the server that started us is gone (daemon thread)."""
        while not self._stop.wait(PARENT_CHECK_S):
            if os.getppid() != self._parent:
                self.reason = self.reason or "the server stopped"
                self._stop.set()
                return


def _stop_between_batches() -> Any:
    """A Keras callback: a cancellation checkpoint after every batch of a neural fit."""
    import keras

    class StopBetweenBatches(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            raise_if_stopped(f"batch {batch + 1} of a neural fit")

    return StopBetweenBatches()


def _train(
    config: RunConfig, settings: Settings, record: JobRecord, stopper: _Stopper
) -> TrainResult:
    """``train_pair`` with the job's progress and its stop flag (checked between batches too)."""
    from mlpkg.models.neural import EPOCH_OBSERVERS
    from mlpkg.pipelines.train import train_pair

    observers = (*EPOCH_OBSERVERS.get(), _stop_between_batches)
    token = EPOCH_OBSERVERS.set(observers)
    try:
        with stop_when(stopper.should_stop):
            return train_pair(
                config, settings, progress=stopper.progress, as_challenger=as_challenger(record)
            )
    finally:
        EPOCH_OBSERVERS.reset(token)


def run_job(jobs: JobStore, job_id: str, settings: Settings) -> int:
    """Run a job the server marked running; return the process exit code."""
    record = jobs.get(job_id)
    if record is None or record.status != JobStatus.RUNNING:
        log.error("job %s is not running (%s): nothing to do", job_id, record and record.status)
        return EXIT_NOT_RUNNING
    stopper = _Stopper(jobs, job_id)
    signal.signal(signal.SIGTERM, stopper.on_sigterm)
    threading.Thread(target=stopper.watch_parent, name="mlpkg-job-parent", daemon=True).start()
    try:
        stopper.progress(stage(stopper.stage))
        config = RunConfig.from_flat(**record.params, pair=record.pair)
        result = _train(config, settings, record, stopper)
    except JobCancelledError as exc:
        log.info("training job %s cancelled (%s)", job_id, exc)
        reason = f"{stopper.reason or 'cancelled'}; stopped at: {stopper.stage} ({exc})"
        jobs.stop_cancelled(job_id, f"Cancelled while running ({reason}); nothing was registered.")
        return EXIT_CANCELLED
    except Exception as exc:  # a failed training fails its job
        log.exception("training job %s for %s failed", job_id, record.pair)
        jobs.fail(job_id, f"{type(exc).__name__}: {exc} (stage: {stopper.stage})")
        return EXIT_FAILED
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    after_training(jobs, record, result)
    return EXIT_OK


def settings_from_env() -> Settings:
    """The server's settings (``MLPKG_JOB_SETTINGS``), else the environment's."""
    raw = os.environ.get(SETTINGS_ENV)
    return Settings.model_validate_json(raw) if raw else Settings()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one job (``JOB_ID --jobs DB``) or mark orphaned runs KILLED (``--mark-orphans``)."""
    parser = argparse.ArgumentParser(prog="python -m mlpkg.pipelines.job")
    parser.add_argument("job_id", nargs="?")
    parser.add_argument("--jobs", type=Path, help="the job store (jobs.db)")
    parser.add_argument("--mark-orphans", action="store_true")
    args = parser.parse_args(argv)
    settings = settings_from_env()
    os.nice(settings.job_niceness)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    from mlpkg.tracking.runs import configure_tracking, mark_orphaned_runs

    configure_tracking(settings)
    if args.mark_orphans:
        mark_orphaned_runs(settings)
        return EXIT_OK
    if not args.job_id or args.jobs is None:
        parser.error("give a job id and --jobs, or --mark-orphans")
    with JobStore(args.jobs) as jobs:
        return run_job(jobs, args.job_id, settings)


if __name__ == "__main__":
    sys.exit(main())
