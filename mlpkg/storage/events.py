"""The live loop's event log in SQLite: one row per candle the leader scored, in order.

With several API worker processes (``mlpkg serve --workers N``) only the leader runs the live
loop, but a WebSocket client may be connected to any worker. The leader appends each new
prediction's message here; every worker (the leader too) follows the log by id and pushes the
new rows to its own subscribers (``mlpkg.serving.hub.follow_events``). The log is also the live
loop's cursor: a worker that takes the lease after the leader died resumes after the last
candle logged for the served version, so no candle is scored twice or skipped.

Its own file (``storage_path.with_name("live.db")``), like the job store: each store versions
its schema with ``PRAGMA user_version``. Old rows are pruned (``prune``); WebSocket clients
only ever need the recent ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from mlpkg.storage.sqlite import SQLiteStore, from_db_time, to_db_time

_EVENTS_V1: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS live_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pair TEXT NOT NULL,
        model TEXT NOT NULL,
        candle_time TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (pair, model, candle_time)
    )""",
)
KEEP_EVENTS = 10_000
"""Rows ``prune`` keeps (the newest)."""


@dataclass(frozen=True)
class LiveEvent:
    """One logged live prediction: its id (the follow cursor), pair and JSON message.

    ``model`` names the registered model and its version (``mlpkg-BTC/3``): a pair may serve
    several models (intervals, horizons), each with its own version numbers.
    """

    id: int
    pair: str
    model: str
    candle_time: datetime
    message: str


class LiveEventStore(SQLiteStore):
    """Append-only log of the live loop's predictions (one row per pair, version and candle)."""

    MIGRATIONS: ClassVar[tuple[tuple[str, ...], ...]] = (_EVENTS_V1,)

    def append(self, pair: str, model: str, candle_time: datetime, message: str) -> bool:
        """Log a scored candle; False (nothing written) when it was logged already."""
        with self._transaction() as conn:
            added = conn.execute(
                "INSERT OR IGNORE INTO live_events"
                " (pair, model, candle_time, message, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (pair, model, to_db_time(candle_time), message, _now()),
            ).rowcount
        return bool(added)

    def since(self, after_id: int, limit: int = 500) -> list[LiveEvent]:
        """The events with an id above ``after_id``, oldest first."""
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT id, pair, model, candle_time, message FROM live_events"
                " WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [
            LiveEvent(int(r[0]), str(r[1]), str(r[2]), from_db_time(r[3]) or _epoch(), str(r[4]))
            for r in rows
        ]

    def last_id(self) -> int:
        """The newest event id (0 when the log is empty): where a new follower starts."""
        with self._locked() as conn:
            row = conn.execute("SELECT coalesce(max(id), 0) FROM live_events").fetchone()
        return int(row[0])

    def last_candle(self, pair: str, model: str) -> datetime | None:
        """The newest candle logged for a pair's model version (the live loop's resume point)."""
        with self._locked() as conn:
            row = conn.execute(
                "SELECT max(candle_time) FROM live_events WHERE pair = ? AND model = ?",
                (pair, model),
            ).fetchone()
        return from_db_time(row[0])

    def candles(self, pair: str) -> list[tuple[str, datetime]]:
        """Every (model, candle) logged for a pair, in log order (for checks and audits)."""
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT model, candle_time FROM live_events WHERE pair = ? ORDER BY id",
                (pair,),
            ).fetchall()
        return [(str(r[0]), from_db_time(r[1]) or _epoch()) for r in rows]

    def prune(self, keep: int = KEEP_EVENTS) -> int:
        """Delete all but the newest ``keep`` events; return how many were deleted."""
        with self._transaction() as conn:
            return int(
                conn.execute(
                    "DELETE FROM live_events WHERE id <= (SELECT max(id) FROM live_events) - ?",
                    (keep,),
                ).rowcount
            )


def _now() -> str:
    return to_db_time(datetime.now(UTC))


def _epoch() -> datetime:
    return datetime.fromtimestamp(0, UTC)
