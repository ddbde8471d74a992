"""Everything the running service holds: stores, models, clock, feed, predictor, worker, loop.

``ServingState`` is built and opened by the app's lifespan (never at import time) and closed
when the server stops. ``check_integrity`` refuses a damaged store at start-up. Every API worker
opens one; only the holder of the leader lease (``lead``) runs the job runner and the live loop.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pandas as pd

from mlpkg.config import RunConfig, Settings
from mlpkg.models.signals import describe_prediction
from mlpkg.serving.feed import CandleFeed
from mlpkg.serving.lease import LeaderLease
from mlpkg.serving.live import LiveService, make_clock
from mlpkg.serving.model_cache import ModelCache
from mlpkg.serving.predictor import Predictor
from mlpkg.serving.worker import TrainingWorker
from mlpkg.storage import JobStore, PredictionStore, SQLiteStore, StorageError
from mlpkg.storage.events import LiveEventStore
from mlpkg.tracking import registry
from mlpkg.tracking.connection import configure_uri, sqlite_store
from mlpkg.tracking.registry_store import running_runs

log = logging.getLogger(__name__)


class ServingState:
    """The service's long-lived objects (nothing is opened until ``open``).

    Args:
        settings: Machine settings.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started_at = datetime.now(UTC)
        self._started = time.monotonic()
        storage_path = settings.resolve(settings.storage_path)
        self.store = PredictionStore(storage_path)
        self.jobs = JobStore(storage_path.with_name("jobs.db"))
        self.events = LiveEventStore(storage_path.with_name("live.db"))
        self.lease = LeaderLease(storage_path.with_name("leader.lock"))
        fallback = registry.CANDIDATE if settings.serve_fallback_candidate else None
        self.models = ModelCache(settings.pairs, settings.serve_alias, fallback)
        self.clock = make_clock(settings)
        self.feed = CandleFeed(settings, self.clock)
        self.predictor = Predictor(settings, self.models, self.feed, self.store)
        replaying = settings.data_source == "replay"
        self.training = TrainingWorker(
            settings,
            self.jobs,
            self._trained,
            clock=self.clock,
            served_config=self._served_config,
            data_end=self._last_closed if replaying else None,
        )
        self.live = LiveService(
            settings,
            self.clock,
            self.store,
            self.models,
            self.feed,
            self.predictor,
            self.training,
            self.events,
        )

    @property
    def uptime_s(self) -> float:
        """Seconds since the state was created."""
        return time.monotonic() - self._started

    def _trained(self, pair: str) -> None:
        """After a training job: reload the served alias; re-read the challenger alias."""
        self.models.refresh(pair)
        self.live.challenge.invalidate(pair)

    def _served_config(self, pair: str) -> RunConfig | None:
        model = self.models.peek(pair)
        return model.bundle.run_config if model is not None else None

    def _last_closed(self, pair: str) -> pd.Timestamp | None:
        """The open time of the pair's last closed candle (training jobs stop there)."""
        model = self.models.peek(pair)
        interval = model.bundle.candle_interval if model is not None else None
        candles = self.feed.candles(pair, 0, interval)
        return pd.Timestamp(candles.index[-1]) if len(candles) else None

    def open(self) -> None:
        """Open the stores and load every pair's model (blocking); every worker does this.

        Under replay the clock is placed and started (``LiveService.start_clock``). The job
        runner and the live loop start only in the leader (``lead``).

        Raises:
            ConfigError: if the signal thresholds are inconsistent.
            StorageError: if a store cannot be opened or fails SQLite's integrity check (the
                message says how to fix it).
            MlpkgError: under replay, when no pair has candles to replay.
        """
        describe_prediction(
            0.5, strong=self.settings.signal_strong, normal=self.settings.signal_normal
        )
        configure_uri(self.settings)  # MLflow itself is not imported (registry_store reads)
        for store in (self.store, self.jobs, self.events):
            store.open()
            check_integrity(store)
        self.feed.open()
        extra = self.models.track_registered()  # the pairs' other (interval, horizon) models
        if extra:
            log.info("other registered models of the pairs: %s", ", ".join(extra))
        outcomes = self.models.refresh_all()
        log.info("models at start: %s", {pair: str(o) for pair, o in outcomes.items()})
        self.live.start_clock()

    def lead(self) -> None:
        """Become the leader (the lease is held): mark orphans, recover jobs, start the runner.

        Runs marked RUNNING by a dead process are marked KILLED (by a short child process,
        started only when the store has RUNNING runs, so MLflow stays out of this process),
        jobs a dead leader left running are marked failed and the queued ones run (blocking).
        """
        db = sqlite_store()
        if db is None or running_runs(db) > 0:  # a killed `mlpkg train` must not stay RUNNING
            self.training.mark_orphans()
        self.training.start()

    def close(self) -> None:
        """Stop the runner, close the feed and the stores, release the lease (idempotent)."""
        self.training.stop()
        self.feed.close()
        self.events.close()
        self.jobs.close()
        self.store.close()
        self.lease.release()


def check_integrity(store: SQLiteStore) -> None:
    """Refuse a store with damaged pages (opening it only reads the header and the schema).

    Runs SQLite's full ``PRAGMA integrity_check`` once at start-up (its cost grows with the
    file: 2.4 s for a 1-million-row, 409 MB prediction store on a 2-core test machine), so the
    service never answers from, or appends to, a damaged file. The file is never modified.

    Raises:
        StorageError: if the check fails; the store is closed again.
    """
    try:
        sound = store.integrity_check()
    except StorageError as exc:  # SQLite could not even finish the check
        sound, detail = False, str(exc.__cause__ or exc)
    else:
        detail = "the problems are logged above"
    if sound:
        return
    store.close()
    path = store.path
    raise StorageError(
        f"{path} failed SQLite's integrity check ({detail}). Nothing was changed: stop mlpkg, "
        f"move the file aside (mv {path} {path}.corrupt) and restart; a new empty store will "
        f"be created there. Rows may be recoverable: sqlite3 {path}.corrupt .recover"
    )
