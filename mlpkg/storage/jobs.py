"""Training jobs in SQLite: queued -> running -> succeeded | failed | cancelled.

The seed service kept its training queue in memory, so a crash or restart silently forgot
running jobs. Here every transition is committed. ``recover()`` (called once at service
start-up) marks a job a dead process left ``running`` as ``failed`` with the reason "the process
stopped while the job ran" and returns the jobs still ``queued``, which the worker queues
again: nothing is lost.

Each job says what queued it (``trigger``: ``manual``, ``periodic`` or ``drift``). A queued job
can be cancelled at once; cancelling a running one records the request
(``cancel_requested_at``) and the worker stops it at its next checkpoint (schema v2).

A ``JobStore`` uses its own SQLite file (e.g. ``storage_path.with_name("jobs.db")``) because
each store versions its schema with ``PRAGMA user_version``. Threading and durability are those
of ``mlpkg.storage.predictions.SQLiteStore``.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from mlpkg.errors import JobNotFoundError, JobStateError, StorageError
from mlpkg.progress import ProgressEvent
from mlpkg.storage.sqlite import SQLiteStore, from_db_time, to_db_time

logger = logging.getLogger(__name__)


class JobStatus(StrEnum):
    """Where a training job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
)
JobTrigger = Literal["manual", "periodic", "drift"]
"""What queued a job: an operator, the periodic schedule, or a drift alert."""
STOPPED_REASON = "the process stopped while the job ran; submit it again"
"""The error of a job that was running when the process died (``recover``)."""


@dataclass(frozen=True, kw_only=True)
class JobRecord:
    """One training job as stored. Times are tz-aware UTC."""

    id: str
    pair: str
    status: JobStatus
    params: dict[str, Any]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: str | None = None
    model_version: str | None = None
    promoted: bool | None = None
    metrics: dict[str, Any] | None = None
    error: str | None = None
    trigger: JobTrigger = "manual"
    cancel_requested_at: datetime | None = None
    stage: str | None = None
    progress: ProgressEvent | None = None

    @property
    def done(self) -> bool:
        """Whether the job has reached a final status."""
        return self.status in TERMINAL_STATUSES


_JOBS_V1: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        pair TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'interrupted')),
        params TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        run_id TEXT,
        model_version TEXT,
        promoted INTEGER,
        metrics TEXT,
        error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS ix_jobs_created_at ON jobs (created_at)",
    "CREATE INDEX IF NOT EXISTS ix_jobs_status ON jobs (status)",
)
# Each migration spells its table in full on purpose: a shipped migration is history and must
# never change, so the v2 table repeats the v1 columns it keeps.
_JOBS_V2: tuple[str, ...] = (
    """CREATE TABLE jobs_v2 (
        id TEXT PRIMARY KEY,
        pair TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        trigger TEXT NOT NULL DEFAULT 'manual'
            CHECK (trigger IN ('manual', 'periodic', 'drift')),
        params TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        run_id TEXT,
        model_version TEXT,
        promoted INTEGER,
        metrics TEXT,
        error TEXT,
        cancel_requested_at TEXT
    )""",
    # v1's "interrupted" (the process stopped) becomes "failed", keeping its message.
    "INSERT INTO jobs_v2 (id, pair, status, params, created_at, started_at, finished_at, run_id,"
    " model_version, promoted, metrics, error) SELECT id, pair, CASE status WHEN 'interrupted'"
    " THEN 'failed' ELSE status END, params, created_at, started_at, finished_at, run_id,"
    " model_version, promoted, metrics, error FROM jobs ORDER BY rowid",
    "DROP TABLE jobs",
    "ALTER TABLE jobs_v2 RENAME TO jobs",
    "CREATE INDEX ix_jobs_created_at ON jobs (created_at)",
    "CREATE INDEX ix_jobs_status ON jobs (status)",
)

_JOBS_STAGE: tuple[str, ...] = ("ALTER TABLE jobs ADD COLUMN stage TEXT",)
"""The stage a running job reached (its training process writes it; kept when it dies)."""
_JOBS_SCHEDULE: tuple[str, ...] = (
    """CREATE TABLE periodic_schedule (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        enabled INTEGER NOT NULL,
        every_s REAL,
        changed_at TEXT NOT NULL
    )""",
)
"""Periodic retraining as an operator last set it (any API worker writes, the leader acts)."""
_JOBS_PROGRESS: tuple[str, ...] = ("ALTER TABLE jobs ADD COLUMN progress TEXT",)
"""The running job's last progress event as JSON (kind, text, done, total); stage is its text."""


def _json_default(value: Any) -> Any:
    """Encode numpy scalars/arrays, datetimes and paths; refuse anything else."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _to_json(name: str, value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"Job {name} cannot be stored as JSON ({exc}): pass plain numbers, strings, "
            "lists and dicts."
        ) from exc


def _record_from_row(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        pair=row["pair"],
        status=JobStatus(row["status"]),
        params=json.loads(row["params"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        started_at=from_db_time(row["started_at"]),
        finished_at=from_db_time(row["finished_at"]),
        run_id=row["run_id"],
        model_version=row["model_version"],
        promoted=None if row["promoted"] is None else bool(row["promoted"]),
        metrics=None if row["metrics"] is None else json.loads(row["metrics"]),
        error=row["error"],
        trigger=row["trigger"],
        cancel_requested_at=from_db_time(row["cancel_requested_at"]),
        stage=row["stage"],
        progress=_progress_from_json(row["progress"]),
    )


def _progress_from_json(text: str | None) -> ProgressEvent | None:
    if text is None:
        return None
    fields = json.loads(text)
    return ProgressEvent(fields["kind"], fields["text"], fields.get("done"), fields.get("total"))


class JobStore(SQLiteStore):
    """Training jobs, one committed row each; every status change is one transaction."""

    MIGRATIONS: ClassVar[tuple[tuple[str, ...], ...]] = (
        _JOBS_V1,
        _JOBS_V2,
        _JOBS_STAGE,
        _JOBS_SCHEDULE,
        _JOBS_PROGRESS,
    )

    def create(self, pair: str, params: dict[str, Any], trigger: JobTrigger = "manual") -> str:
        """Queue a job and return its id (a uuid4 hex string)."""
        job_id = uuid.uuid4().hex
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, pair, status, trigger, params, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, pair, JobStatus.QUEUED.value, trigger, _to_json("params", params), _now()),
            )
        logger.info("Queued %s training job %s for %s", trigger, job_id, pair)
        return job_id

    def cancel(self, job_id: str, reason: str) -> JobRecord:
        """Cancel a queued job now, or ask a running one to stop (``cancel_requested_at``).

        Returns:
            The job after the change: ``cancelled`` if it was queued, still ``running`` (with
            ``cancel_requested_at`` set) if it was running.

        Raises:
            JobNotFoundError: if there is no such job.
            JobStateError: if the job has already finished.
        """
        now = _now()
        with self._transaction() as conn:
            found = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if found is None:
                raise JobNotFoundError(f"No training job {job_id!r}: list jobs to see valid ids.")
            if found[0] == JobStatus.QUEUED:
                conn.execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ?, error = ? WHERE id = ?",
                    (now, reason, job_id),
                )
            elif found[0] == JobStatus.RUNNING:
                conn.execute(
                    "UPDATE jobs SET cancel_requested_at = coalesce(cancel_requested_at, ?)"
                    " WHERE id = ?",
                    (now, job_id),
                )
            else:
                raise JobStateError(
                    f"Training job {job_id} is already {found[0]}; only a queued or running "
                    "job can be cancelled."
                )
            job = _record_from_row(
                conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            )
        logger.info("Training job %s: cancel requested (%s)", job_id, job.status.value)
        return job

    def stop_cancelled(self, job_id: str, reason: str) -> None:
        """Mark a running job whose cancellation was requested ``cancelled``.

        Raises:
            JobNotFoundError: if there is no such job.
            StorageError: if the job is not running.
        """
        values = {"finished_at": _now(), "error": reason}
        self._transition(job_id, (JobStatus.RUNNING,), JobStatus.CANCELLED, values)

    def start(self, job_id: str) -> None:
        """Mark a queued job running.

        Raises:
            JobNotFoundError: if there is no such job.
            StorageError: if the job is not queued.
        """
        self._transition(job_id, (JobStatus.QUEUED,), JobStatus.RUNNING, {"started_at": _now()})

    def finish(
        self,
        job_id: str,
        *,
        run_id: str | None,
        model_version: str | None,
        promoted: bool | None,
        metrics: dict[str, Any] | None,
    ) -> None:
        """Mark a running job succeeded, with what it produced.

        Raises:
            JobNotFoundError: if there is no such job.
            StorageError: if the job is not running.
        """
        values = {
            "finished_at": _now(),
            "run_id": run_id,
            "model_version": model_version,
            "promoted": None if promoted is None else int(promoted),
            "metrics": _to_json("metrics", metrics),
        }
        self._transition(job_id, (JobStatus.RUNNING,), JobStatus.SUCCEEDED, values)

    def fail(self, job_id: str, error: str) -> None:
        """Mark a queued or running job failed with an error message.

        Raises:
            JobNotFoundError: if there is no such job.
            StorageError: if the job has already finished.
        """
        allowed = (JobStatus.QUEUED, JobStatus.RUNNING)
        values = {"finished_at": _now(), "error": error}
        self._transition(job_id, allowed, JobStatus.FAILED, values)

    def set_progress(self, job_id: str, event: ProgressEvent) -> None:
        """Record a running job's progress event (its text is the stage; no-op unless running)."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE jobs SET stage = ?, progress = ? WHERE id = ? AND status = 'running'",
                (event.text, _to_json("progress", event.as_dict()), job_id),
            )

    def save_schedule(self, enabled: bool, every_s: float | None) -> str:
        """Record periodic retraining as toggled (one row); return its change stamp."""
        stamp = _now()
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO periodic_schedule (id, enabled, every_s, changed_at)"
                " VALUES (1, ?, ?, ?)",
                (int(enabled), every_s, stamp),
            )
        return stamp

    def load_schedule(self) -> tuple[bool, float | None, str] | None:
        """Periodic retraining as last toggled: (enabled, period, change stamp), or ``None``."""
        with self._locked() as conn:
            row = conn.execute(
                "SELECT enabled, every_s, changed_at FROM periodic_schedule WHERE id = 1"
            ).fetchone()
        if row is None:
            return None
        return bool(row[0]), None if row[1] is None else float(row[1]), str(row[2])

    def next_queued(self) -> JobRecord | None:
        """The oldest queued job (the next one to run), or ``None``."""
        with self._locked() as conn:
            row = conn.execute(
                "SELECT * FROM jobs WHERE status = 'queued' ORDER BY created_at, rowid LIMIT 1"
            ).fetchone()
        return None if row is None else _record_from_row(row)

    def get(self, job_id: str) -> JobRecord | None:
        """Return the job, or ``None`` if the id is unknown."""
        with self._locked() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _record_from_row(row)

    def list(self, limit: int = 50, *, pair: str | None = None) -> builtins.list[JobRecord]:
        """Return the newest jobs first.

        Args:
            limit: At most this many jobs (>= 1).
            pair: Only jobs for this pair (default: all pairs).
        """
        if limit < 1:
            raise StorageError(f"job list limit must be at least 1, got {limit}.")
        sql = "SELECT * FROM jobs"
        params: builtins.list[Any] = []
        if pair is not None:
            sql += " WHERE pair = ?"
            params.append(pair)
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        with self._locked() as conn:
            rows = conn.execute(sql, [*params, limit]).fetchall()
        return [_record_from_row(row) for row in rows]

    def active(self) -> builtins.list[JobRecord]:
        """The running and queued jobs, oldest first (the queue in order; indexed)."""
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE status IN ('running', 'queued')"
                " ORDER BY created_at, rowid"
            ).fetchall()
        return [_record_from_row(row) for row in rows]

    def recover(self) -> builtins.list[str]:
        """After a restart: fail the jobs left running, return the queued ones to run again.

        Call once when the service starts, and only when no other live process runs jobs from
        this file. A job left ``running`` becomes ``failed`` with ``STOPPED_REASON``.

        Returns:
            The ids of the jobs still queued, oldest first.
        """
        with self._transaction() as conn:
            count = conn.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?,"
                " error = ? || coalesce(' Last stage: ' || stage || '.', '')"
                " WHERE status = 'running'",
                (_now(), f"Failed: {STOPPED_REASON}."),
            ).rowcount
            queued = conn.execute(
                "SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at, rowid"
            ).fetchall()
        if count:
            logger.warning("Marked %d training jobs failed: %s", count, STOPPED_REASON)
        return [str(row[0]) for row in queued]

    def _transition(
        self,
        job_id: str,
        allowed: tuple[JobStatus, ...],
        status: JobStatus,
        values: dict[str, Any],
    ) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        marks = ", ".join("?" for _ in allowed)
        with self._transaction() as conn:
            updated = conn.execute(
                f"UPDATE jobs SET status = ?, {assignments} WHERE id = ? AND status IN ({marks})",
                (status.value, *values.values(), job_id, *(s.value for s in allowed)),
            ).rowcount
            row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"No training job {job_id!r}: list jobs to see valid ids.")
        if not updated:
            raise StorageError(
                f"Training job {job_id} is {row[0]}; only a job that is "
                f"{' or '.join(allowed)} can become {status.value}."
            )
        logger.info("Training job %s is %s", job_id, status.value)


def _now() -> str:
    return to_db_time(datetime.now(UTC))
