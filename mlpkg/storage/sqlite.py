"""The generic SQLite store under the prediction and job stores: one file, WAL, migrations.

``SQLiteStore`` opens one WAL-mode connection (``synchronous=FULL``, ``busy_timeout``) guarded by
a re-entrant lock, refuses a file that is not a database before writing anything, applies the
subclass's ``MIGRATIONS`` (``PRAGMA user_version``), and turns SQLite errors into
``StorageError`` messages that say what to do. ``to_db_time`` / ``from_db_time`` are the time
codec of every stored timestamp (fixed-width UTC ISO text that sorts like the instant).
The schemas themselves (the ``MIGRATIONS`` tuples) stay with their stores.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

import pandas as pd

from mlpkg.errors import StorageError

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
"""How long a connection waits for another connection's write lock before failing."""

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"
"""The stored text of a UTC instant (fixed width: text order is time order)."""


def to_db_time(value: datetime) -> str:
    """Return a tz-aware datetime as fixed-width UTC ISO text (sorts like the instant it names).

    Raises:
        StorageError: if ``value`` is naive.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise StorageError(
            f"Naive datetime {value!r}: storage needs tz-aware UTC times; "
            "use datetime.now(UTC) or pd.Timestamp(..., tz='UTC')."
        )
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.astimezone(UTC).strftime(TS_FORMAT)


def from_db_time(text: str | None) -> datetime | None:
    """Parse text written by ``to_db_time`` (``None`` stays ``None``)."""
    return None if text is None else datetime.fromisoformat(text)


class SQLiteStore:
    """Base of the SQLite stores: one WAL-mode file, one lock-guarded connection, migrations.

    Subclasses set ``MIGRATIONS``: entry ``i`` holds the statements that take the schema from
    version ``i`` to ``i + 1`` (kept in ``PRAGMA user_version``). Use as a context manager or
    call ``open()`` / ``close()``.
    """

    MIGRATIONS: ClassVar[tuple[tuple[str, ...], ...]] = ()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    @property
    def schema_version(self) -> int:
        """The schema version this code writes (``PRAGMA user_version`` after ``open``)."""
        return len(self.MIGRATIONS)

    def open(self) -> Self:
        """Open (creating parent folders, the file and the schema as needed) and migrate.

        Returns:
            The store itself. Opening an open store does nothing.

        Raises:
            StorageError: if the file is not a SQLite database, is from a newer mlpkg, or
                cannot be opened. The file is never modified or deleted in that case.
        """
        with self._lock:
            if self._conn is not None:
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            try:
                _check_is_database(conn, self.path)
                _configure(conn, self.path)
                _migrate(conn, self.MIGRATIONS, self.path)
            except BaseException:
                conn.close()
                raise
            conn.row_factory = sqlite3.Row
            self._conn = conn
        logger.info(
            "Opened %s at %s (schema v%d)", type(self).__name__, self.path, len(self.MIGRATIONS)
        )
        return self

    def close(self) -> None:
        """Close the connection (idempotent); committed data stays on disk."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def checkpoint(self) -> int:
        """Copy the write-ahead log into the database file and truncate the log.

        Returns:
            The number of WAL frames checkpointed (0 when the log was empty).
        """
        with self._locked() as conn:
            busy, _, frames = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            logger.warning("WAL checkpoint of %s incomplete: another connection is busy", self.path)
        return int(frames)

    def integrity_check(self) -> bool:
        """Run SQLite's full ``PRAGMA integrity_check``; True when the file is sound."""
        with self._locked() as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        problems = [str(row[0]) for row in rows if row[0] != "ok"]
        for problem in problems:
            logger.error("Integrity problem in %s: %s", self.path, problem)
        return not problems

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise _storage_error(self.path, exc) from exc

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and yield the connection outside any transaction."""
        with self._lock:
            if self._conn is None:
                raise StorageError(
                    f"{type(self).__name__} for {self.path} is not open: "
                    "call open() first or use it as a context manager."
                )
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _storage_error(self.path, exc) from exc

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """Yield the connection inside one transaction (``DEFERRED`` for snapshot reads)."""
        with self._locked() as conn:
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise


def _storage_error(path: Path, exc: sqlite3.Error) -> StorageError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        hint = "another process holds a long write lock; retry, or stop the other writer"
    elif "malformed" in text or "not a database" in text:  # "database disk image is malformed"
        hint = f"the file is damaged: stop mlpkg, move it aside (mv {path} {path}.corrupt), restart"
    elif "disk" in text or "full" in text:
        hint = "check free disk space and permissions of the folder"
    else:
        hint = "check the path and permissions; if the file is damaged, move it aside"
    return StorageError(f"SQLite store {path}: {text} ({hint}).")


def _check_is_database(conn: sqlite3.Connection, path: Path) -> None:
    """Read the schema (a pure read) so a non-database fails before anything is written."""
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StorageError(
            f"{path} is not a valid SQLite database ({exc}). Nothing was changed: move the file "
            f"aside (e.g. mv {path} {path}.corrupt) and restart; a new empty store will be "
            "created there, and the old file can be inspected or restored later."
        ) from exc


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise _storage_error(path, exc) from exc
    if str(mode).lower() != "wal":
        logger.warning("%s: journal_mode is %s, not WAL (unsupported filesystem?)", path, mode)


def _migrate(conn: sqlite3.Connection, migrations: tuple[tuple[str, ...], ...], path: Path) -> None:
    """Apply missing migrations, each in its own transaction (safe against a concurrent opener)."""
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version >= len(migrations):
                conn.execute("COMMIT")
                break
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise _storage_error(path, exc) from exc
        logger.info("Migrated %s to schema version %d", path, version + 1)
    if version > len(migrations):
        raise StorageError(
            f"{path} has schema version {version}, newer than this mlpkg supports "
            f"({len(migrations)}): upgrade mlpkg, or point the store at another file."
        )
