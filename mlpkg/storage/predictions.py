"""Prediction history in SQLite: every served prediction, its realised outcome, live accuracy.

Replaces the seed service's ``MLStorage`` prediction history (one JSON file per pair, written
only on every 10th prediction, so a crash lost up to nine). Here each prediction is one row
committed before ``add`` returns, in a WAL-mode database with ``synchronous=FULL``, so a
committed prediction survives the process being killed.

**One scored prediction per (pair, model version, member, candle)** (schema v2): a unique key
makes ``add`` idempotent, so repeated requests for the same candle reuse the first row and
live accuracy counts each candle once per version, whatever the request traffic. ``member`` is
``''`` for the served candidate and the member's name (``gru``) for a member answer, so both
can be stored for the same candle. Migrating a v1 store keeps the first row of each duplicate
group (lowest id) and deletes the others.

**Roles** (migration ``_PREDICTIONS_ROLE``): ``role`` is ``served`` for what the served alias
answered and ``challenger`` for the pending challenger's shadow predictions (scored beside it on
every closed candle, compared with it by ``mlpkg.serving.challenge``). History reads the served
role unless asked for the challenger; ``shadow_pairs`` joins both on their candles.

**Counters** (table ``prediction_counts``, kept by triggers in the same transaction as each
insert, outcome and delete): rows, outcomes, correct and realised-up predictions per (pair,
version, member). Health, status and live accuracy read them instead of scanning the table.

Threading: a store holds ONE connection opened with ``check_same_thread=False`` and guards it
with a re-entrant lock, so one store can be shared by the uvicorn threadpool, background tasks
and the event loop. SQLite serialises writers anyway and every statement here is short, so a
lock costs little, and unlike per-thread connections it leaves nothing open after ``close()``.
Calls block (a commit fsyncs): call them from ``def`` routes or through ``asyncio.to_thread``.
Other processes (the CLI, a second worker) may open the same file: ``busy_timeout`` makes them
wait for each other's write transactions instead of failing.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, NoReturn, get_args

import pandas as pd

from mlpkg.errors import StorageError
from mlpkg.models.signals import Direction
from mlpkg.storage.sqlite import TS_FORMAT, SQLiteStore, from_db_time, to_db_time

logger = logging.getLogger(__name__)

_DIRECTIONS: tuple[str, ...] = get_args(Direction)
Role = Literal["served", "challenger"]
"""Why a prediction was made: the served alias's answer, or the challenger's shadow."""
ROLES: tuple[str, ...] = get_args(Role)


def target_time(candle_time: datetime, horizon: int, interval: timedelta) -> datetime:
    """Return the open time of the candle whose close settles a prediction.

    Args:
        candle_time: Open time of the last candle the model saw.
        horizon: Candles ahead the model predicts.
        interval: Candle length, e.g. ``timedelta(hours=1)``.
    """
    if horizon < 1 or interval <= timedelta(0):
        raise StorageError(
            f"Invalid horizon {horizon} or interval {interval}: both must be positive."
        )
    return candle_time + horizon * interval


def _bad(name: str, value: object) -> NoReturn:
    raise StorageError(
        f"Invalid prediction field {name}={value!r}: see the PredictionRecord docstring."
    )


def _check_time(name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime):
        _bad(name, value)
    to_db_time(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class PredictionRecord:
    """One served prediction and, once its target candle has closed, its outcome.

    Times are tz-aware UTC. ``target_time`` is the open time of the candle whose close decides
    the outcome (``candle_time + horizon * interval``; see ``create``); the realised direction
    is ``'up'`` if that close is above ``close_at_prediction``, else ``'down'`` (ties are down,
    as in the training labels).
    """

    id: int | None = None
    pair: str
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
    realised_direction: Direction | None = None
    realised_close: float | None = None
    realised_at: datetime | None = None
    request_id: str | None = None
    member: str = ""
    ood: bool | None = None
    role: Role = "served"
    position: float | None = None

    def __post_init__(self) -> None:
        for name in ("predicted_at", "candle_time", "target_time", "realised_at"):
            _check_time(name, getattr(self, name))
        if not self.pair:
            _bad("pair", self.pair)
        if self.horizon < 1 or self.target_time <= self.candle_time:
            _bad("horizon/target_time", (self.horizon, self.target_time))
        if not 0.0 <= self.probability <= 1.0:
            _bad("probability", self.probability)
        if self.direction not in _DIRECTIONS:
            _bad("direction", self.direction)
        if self.realised_direction not in (None, *_DIRECTIONS):
            _bad("realised_direction", self.realised_direction)
        if not math.isfinite(self.close_at_prediction):
            _bad("close_at_prediction", self.close_at_prediction)
        if self.role not in ROLES:
            _bad("role", self.role)

    @property
    def correct(self) -> bool | None:
        """Whether the predicted direction was right (``None`` until realised)."""
        if self.realised_direction is None:
            return None
        return self.realised_direction == self.direction

    @classmethod
    def create(
        cls,
        *,
        pair: str,
        predicted_at: datetime,
        candle_time: datetime,
        horizon: int,
        interval: timedelta,
        probability: float,
        direction: Direction,
        confidence: float,
        signal: str,
        model_name: str,
        model_version: str | None,
        run_id: str | None,
        close_at_prediction: float,
        request_id: str | None = None,
        member: str = "",
        ood: bool | None = None,
        target: datetime | None = None,
        role: Role = "served",
        position: float | None = None,
    ) -> PredictionRecord:
        """Build a new (unsaved, unrealised) record, deriving ``target_time`` from ``interval``.

        ``member`` is ``''`` for the served candidate, else the member that answered;
        ``ood`` whether the input lay outside the training ranges (``None``: not checked);
        ``target`` the target candle's open time when a calendar's closures lie before it
        (``mlpkg.data.calendars.bar_after``; default: ``horizon`` intervals of clock time).
        ``role`` is ``served`` (the answer of the served alias) or ``challenger`` (a shadow
        prediction of the pending challenger, never a default answer).
        ``position`` the position the signal stood for under the version's signal policy
        (+ long, - short, 0 flat; ``None`` before positions were recorded).
        """
        return cls(
            pair=pair,
            predicted_at=predicted_at,
            candle_time=candle_time,
            horizon=horizon,
            target_time=target or target_time(candle_time, horizon, interval),
            probability=probability,
            direction=direction,
            confidence=confidence,
            signal=signal,
            model_name=model_name,
            model_version=model_version,
            run_id=run_id,
            close_at_prediction=close_at_prediction,
            request_id=request_id,
            member=member,
            ood=ood,
            role=role,
            position=position,
        )


_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(PredictionRecord) if f.name != "id")
_TIME_COLUMNS: frozenset[str] = frozenset(
    {"predicted_at", "candle_time", "target_time", "realised_at"}
)

_PREDICTIONS_V1: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS predictions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT UNIQUE,
        pair TEXT NOT NULL,
        predicted_at TEXT NOT NULL,
        candle_time TEXT NOT NULL,
        horizon INTEGER NOT NULL CHECK (horizon >= 1),
        target_time TEXT NOT NULL,
        probability REAL NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
        confidence REAL NOT NULL,
        signal TEXT NOT NULL,
        model_name TEXT NOT NULL,
        model_version TEXT,
        run_id TEXT,
        close_at_prediction REAL NOT NULL,
        realised_direction TEXT CHECK (realised_direction IN ('up', 'down')),
        realised_close REAL,
        realised_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS ix_predictions_pair_predicted_at"
    " ON predictions (pair, predicted_at)",
    "CREATE INDEX IF NOT EXISTS ix_predictions_pair_candle_time ON predictions (pair, candle_time)",
    "CREATE INDEX IF NOT EXISTS ix_predictions_predicted_at ON predictions (predicted_at)",
    "CREATE INDEX IF NOT EXISTS ix_predictions_pending ON predictions (pair, target_time)"
    " WHERE realised_direction IS NULL",
)

_COUNT_KEY = (
    "pair = {row}.pair AND model_version = coalesce({row}.model_version, '')"
    " AND member = {row}.member"
)
_PREDICTIONS_V2: tuple[str, ...] = (
    "ALTER TABLE predictions ADD COLUMN member TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE predictions ADD COLUMN ood INTEGER",
    # One row per (pair, version, member, candle): keep the first of each duplicate group.
    "DELETE FROM predictions WHERE model_version IS NOT NULL AND id NOT IN (SELECT min(id)"
    " FROM predictions WHERE model_version IS NOT NULL"
    " GROUP BY pair, model_version, member, candle_time)",
    "CREATE UNIQUE INDEX ux_predictions_candle"
    " ON predictions (pair, model_version, member, candle_time)",
    "CREATE INDEX ix_predictions_pair_target ON predictions (pair, target_time)",
    """CREATE TABLE prediction_counts (
        pair TEXT NOT NULL,
        model_version TEXT NOT NULL,
        member TEXT NOT NULL,
        n INTEGER NOT NULL,
        n_realised INTEGER NOT NULL,
        n_correct INTEGER NOT NULL,
        n_up INTEGER NOT NULL,
        PRIMARY KEY (pair, model_version, member)
    ) WITHOUT ROWID""",
    "INSERT INTO prediction_counts SELECT pair, coalesce(model_version, ''), member, count(*),"
    " count(realised_direction), coalesce(sum(realised_direction = direction), 0),"
    " coalesce(sum(realised_direction = 'up'), 0) FROM predictions GROUP BY 1, 2, 3",
    """CREATE TRIGGER tr_predictions_insert AFTER INSERT ON predictions BEGIN
        INSERT INTO prediction_counts VALUES (NEW.pair, coalesce(NEW.model_version, ''),
            NEW.member, 1, NEW.realised_direction IS NOT NULL,
            coalesce(NEW.realised_direction = NEW.direction, 0),
            coalesce(NEW.realised_direction = 'up', 0))
        ON CONFLICT (pair, model_version, member) DO UPDATE SET n = n + 1,
            n_realised = n_realised + excluded.n_realised,
            n_correct = n_correct + excluded.n_correct, n_up = n_up + excluded.n_up;
    END""",
    f"""CREATE TRIGGER tr_predictions_outcome AFTER UPDATE OF realised_direction ON predictions
    WHEN OLD.realised_direction IS NULL AND NEW.realised_direction IS NOT NULL BEGIN
        UPDATE prediction_counts SET n_realised = n_realised + 1,
            n_correct = n_correct + (NEW.realised_direction = NEW.direction),
            n_up = n_up + (NEW.realised_direction = 'up')
        WHERE {_COUNT_KEY.format(row="NEW")};
    END""",
    f"""CREATE TRIGGER tr_predictions_delete AFTER DELETE ON predictions BEGIN
        UPDATE prediction_counts SET n = n - 1,
            n_realised = n_realised - (OLD.realised_direction IS NOT NULL),
            n_correct = n_correct - coalesce(OLD.realised_direction = OLD.direction, 0),
            n_up = n_up - coalesce(OLD.realised_direction = 'up', 0)
        WHERE {_COUNT_KEY.format(row="OLD")};
    END""",
)


_PREDICTIONS_POSITION: tuple[str, ...] = (
    # The position each served signal stood for under its version's policy (live P&L).
    "ALTER TABLE predictions ADD COLUMN position REAL",
)


def _record_from_row(row: sqlite3.Row) -> PredictionRecord:
    values = dict(zip(row.keys(), tuple(row), strict=True))
    for name in _TIME_COLUMNS:
        values[name] = from_db_time(values[name])
    if values["ood"] is not None:
        values["ood"] = bool(values["ood"])
    return PredictionRecord(**values)


def _time(text: str) -> datetime:
    value = from_db_time(text)
    assert value is not None
    return value


def _accuracy(n: int, n_realised: int, n_correct: int, n_up: int) -> dict[str, Any]:
    return {
        "n_realised": int(n_realised),
        "n_correct": int(n_correct),
        "accuracy": n_correct / n_realised if n_realised else None,
        "n_pending": int(n - n_realised),
        "n_up": int(n_up),
        "up_rate": n_up / n_realised if n_realised else None,
    }


def _close_lookup(closes: pd.Series) -> dict[str, float]:
    """Map UTC open-time text to close, dropping NaN closes (not yet known)."""
    if closes.empty:
        return {}
    index = closes.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise StorageError(
            "closes must be indexed by a tz-aware DatetimeIndex of candle open times "
            "(e.g. candles['close'] from a validated candle frame)."
        )
    keys = index.tz_convert(UTC).strftime(TS_FORMAT)
    values = closes.to_numpy(dtype="float64", na_value=math.nan)
    return {k: float(v) for k, v in zip(keys, values, strict=True) if math.isfinite(v)}


def _settle(conn: sqlite3.Connection, pair: str, lookup: dict[str, float], realised_at: str) -> int:
    """Record the outcome of the pair's pending predictions whose target close is in ``lookup``."""
    pending = conn.execute(
        "SELECT id, target_time, close_at_prediction FROM predictions WHERE pair = ?"
        " AND realised_direction IS NULL AND target_time BETWEEN ? AND ?",
        (pair, min(lookup), max(lookup)),
    ).fetchall()
    updates = [
        (lookup[t], "up" if lookup[t] > base else "down", realised_at, row_id)
        for row_id, t, base in pending
        if t in lookup
    ]
    conn.executemany(
        "UPDATE predictions SET realised_close = ?, realised_direction = ?,"
        " realised_at = ? WHERE id = ? AND realised_direction IS NULL",
        updates,
    )
    return len(updates)


_PREDICTIONS_ROLE: tuple[str, ...] = (
    "ALTER TABLE predictions ADD COLUMN role TEXT NOT NULL DEFAULT 'served'",
    "CREATE INDEX IF NOT EXISTS ix_predictions_role ON predictions (pair, role, candle_time)",
)
"""Shadow predictions of a challenger beside the served ones (issue 18)."""


class PredictionStore(SQLiteStore):
    """Every served prediction, committed immediately; outcomes filled in as candles close."""

    MIGRATIONS: ClassVar[tuple[tuple[str, ...], ...]] = (
        _PREDICTIONS_V1,
        _PREDICTIONS_V2,
        _PREDICTIONS_ROLE,
        _PREDICTIONS_POSITION,
    )

    def add(self, record: PredictionRecord, *, request_id: str | None = None) -> int:
        """Commit one prediction (durably, before returning) and return its id.

        Idempotent: a record whose (pair, model version, member, candle) is already stored, or
        whose ``request_id`` is, stores nothing and returns the stored row's id (see
        ``add_once``).

        Args:
            record: The prediction; its ``id`` is ignored.
            request_id: Optional idempotency key (defaults to ``record.request_id``).
        """
        stored, _ = self.add_once(record, request_id=request_id)
        assert stored.id is not None
        return stored.id

    def add_once(
        self,
        record: PredictionRecord,
        *,
        request_id: str | None = None,
        closes: pd.Series | None = None,
    ) -> tuple[PredictionRecord, bool]:
        """Store a prediction unless its candle already has one; return the stored row.

        Args:
            record: The prediction; its ``id`` is ignored.
            request_id: Optional idempotency key (defaults to ``record.request_id``).
            closes: Closes of newly closed candles: the pair's pending predictions they settle
                get their outcome in the same transaction (one durable commit, not two).

        Returns:
            The stored record (this one with its id, or the one stored first for the same
            pair, model version, member and candle, or request id) and whether it is new.
        """
        key = request_id if request_id is not None else record.request_id
        values = [getattr(record, name) for name in _COLUMNS]
        values[_COLUMNS.index("request_id")] = key
        params = [to_db_time(v) if isinstance(v, datetime) else v for v in values]
        sql = (
            f"INSERT INTO predictions ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _COLUMNS)}) ON CONFLICT DO NOTHING"
        )
        lookup = _close_lookup(closes) if closes is not None else {}
        with self._transaction() as conn:
            cursor = conn.execute(sql, params)
            if cursor.rowcount == 1 and cursor.lastrowid is not None:
                row_id, created = int(cursor.lastrowid), True
            else:
                row_id, created = self._existing_id(conn, record, key), False
            row = conn.execute("SELECT * FROM predictions WHERE id = ?", (row_id,)).fetchone()
            if lookup:
                _settle(conn, record.pair, lookup, to_db_time(datetime.now(UTC)))
        if not created:
            logger.debug(
                "%s %s at %s already stored as %s",
                record.pair,
                record.model_version,
                record.candle_time,
                row_id,
            )
        return _record_from_row(row), created

    @staticmethod
    def _existing_id(conn: sqlite3.Connection, record: PredictionRecord, key: str | None) -> int:
        row = None
        if key is not None:
            row = conn.execute("SELECT id FROM predictions WHERE request_id = ?", (key,)).fetchone()
        if row is None:
            row = conn.execute(
                "SELECT id FROM predictions WHERE pair = ? AND model_version = ? AND member = ?"
                " AND candle_time = ?",
                (record.pair, record.model_version, record.member, to_db_time(record.candle_time)),
            ).fetchone()
        if row is None:
            raise StorageError(f"Prediction for {record.pair} could not be stored or found.")
        return int(row[0])

    def find(
        self, pair: str, model_version: str, candle_time: datetime, member: str = ""
    ) -> PredictionRecord | None:
        """The stored prediction of a (pair, model version, member, candle), if any."""
        with self._locked() as conn:
            row = conn.execute(
                "SELECT * FROM predictions WHERE pair = ? AND model_version = ? AND member = ?"
                " AND candle_time = ?",
                (pair, model_version, member, to_db_time(candle_time)),
            ).fetchone()
        return None if row is None else _record_from_row(row)

    def settled_at(self, pair: str, target: datetime) -> list[PredictionRecord]:
        """The pair's realised served predictions whose target candle opened at ``target``."""
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT * FROM predictions WHERE pair = ? AND target_time = ?"
                " AND realised_direction IS NOT NULL AND role = 'served' ORDER BY id",
                (pair, to_db_time(target)),
            ).fetchall()
        return [_record_from_row(row) for row in rows]

    def get(self, prediction_id: int) -> PredictionRecord | None:
        """Return one prediction by id, or ``None`` if there is none (or it was cleaned up)."""
        with self._locked() as conn:
            row = conn.execute(
                "SELECT * FROM predictions WHERE id = ?", (prediction_id,)
            ).fetchone()
        return None if row is None else _record_from_row(row)

    def fill_outcomes(self, pair: str, closes: pd.Series, *, now: datetime | None = None) -> int:
        """Record outcomes of the pair's pending predictions whose target candle is in ``closes``.

        Idempotent: realised rows are never touched again; targets missing from ``closes`` (or
        NaN there) stay pending for a later call.

        Args:
            pair: The pair the closes belong to.
            closes: Close prices indexed by tz-aware UTC candle open time.
            now: When the outcome is recorded (``realised_at``); default the current time.

        Returns:
            The number of predictions that got an outcome.
        """
        lookup = _close_lookup(closes)
        if not lookup:
            return 0
        with self._transaction() as conn:
            filled = _settle(conn, pair, lookup, to_db_time(now or datetime.now(UTC)))
        if filled:
            logger.debug("Filled %d outcomes for %s", filled, pair)
        return filled

    def history(
        self,
        pair: str,
        *,
        limit: int = 100,
        since: datetime | None = None,
        role: Role = "served",
    ) -> list[PredictionRecord]:
        """Return the pair's predictions, newest first.

        Args:
            pair: The pair.
            limit: At most this many rows (>= 1).
            since: Only predictions served at or after this time.
            role: ``served`` (default) or ``challenger`` (the shadow predictions).
        """
        if limit < 1:
            raise StorageError(f"history limit must be at least 1, got {limit}.")
        sql = "SELECT * FROM predictions WHERE pair = ? AND role = ?"
        params: list[Any] = [pair, role]
        if since is not None:
            sql += " AND predicted_at >= ?"
            params.append(to_db_time(since))
        sql += " ORDER BY predicted_at DESC, id DESC LIMIT ?"
        with self._locked() as conn:
            rows = conn.execute(sql, [*params, limit]).fetchall()
        return [_record_from_row(row) for row in rows]

    def live_accuracy(
        self, pair: str, *, model_version: str | None = None, member: str = ""
    ) -> dict[str, Any]:
        """Directional accuracy of the pair's realised predictions (from the counters).

        Each candle counts once per model version (the unique key), so this is accuracy over
        unique candles; without ``model_version`` the versions are summed (a candle two
        versions predicted counts twice).

        Args:
            pair: The pair.
            model_version: Only predictions made by this model version (default: all).
            member: ``''`` (the served candidate) or a member's name.

        Returns:
            ``n_realised``, ``n_correct``, ``accuracy`` (``None`` when nothing is realised
            yet), ``n_pending``, ``n_up`` (realised up) and ``up_rate`` (what always-up scored).
        """
        sql = (
            "SELECT coalesce(sum(n), 0), coalesce(sum(n_realised), 0),"
            " coalesce(sum(n_correct), 0), coalesce(sum(n_up), 0) FROM prediction_counts"
            " WHERE pair = ? AND member = ?"
        )
        params: list[Any] = [pair, member]
        if model_version is not None:
            sql += " AND model_version = ?"
            params.append(model_version)
        with self._locked() as conn:
            n, n_realised, n_correct, n_up = conn.execute(sql, params).fetchone()
        return _accuracy(n, n_realised, n_correct, n_up)

    def accuracy_by_version(self, pair: str, member: str = "") -> dict[str, dict[str, Any]]:
        """``live_accuracy`` of each model version that predicted for the pair (counters)."""
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT model_version, n, n_realised, n_correct, n_up FROM prediction_counts"
                " WHERE pair = ? AND member = ? AND n > 0",
                (pair, member),
            ).fetchall()
        ordered = sorted(rows, key=lambda r: (len(r[0]), r[0]), reverse=True)
        return {str(r[0]): _accuracy(*tuple(r)[1:]) for r in ordered}

    def pnl_by_version(self, pair: str, member: str = "") -> dict[str, dict[str, Any]]:
        """Realised P&L of each version's served signals, from its settled predictions.

        Each settled prediction with a recorded ``position`` is one tranche of ``1/horizon`` of
        that position held from its candle's close to its target candle's close (the accounting
        of the holdout backtest): its gross return is ``position * (realised_close /
        close_at_prediction - 1) / horizon``. Summed per version (simple sum, no compounding),
        with the number of settled signals and of those that took a position.

        Returns:
            Version -> ``n_settled``, ``n_traded``, ``gross_return`` (sum of tranche returns),
            ``exposure`` (sum of ``|position| / horizon``), ``hit_rate`` (share of traded
            tranches with a positive return; ``None`` when none traded).
        """
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT model_version, count(*), coalesce(sum(position != 0), 0),"
                " coalesce(sum(position * (realised_close / close_at_prediction - 1)"
                " / horizon), 0.0), coalesce(sum(abs(position) / horizon), 0.0),"
                " coalesce(sum(position * (realised_close - close_at_prediction) > 0), 0)"
                " FROM predictions WHERE pair = ? AND member = ? AND role = 'served'"
                " AND position IS NOT NULL"
                " AND realised_close IS NOT NULL AND model_version IS NOT NULL"
                " GROUP BY model_version",
                (pair, member),
            ).fetchall()
        return {
            str(version): {
                "n_settled": int(n),
                "n_traded": int(traded),
                "gross_return": float(gross),
                "exposure": float(exposure),
                "hit_rate": wins / traded if traded else None,
            }
            for version, n, traded, gross, exposure, wins in rows
        }

    def recent_settled(
        self, pair: str, model_version: str, k: int, member: str = ""
    ) -> tuple[int, int]:
        """``(settled, correct)`` over the version's last ``k`` settled candles (indexed)."""
        with self._locked() as conn:
            n, correct = conn.execute(
                "SELECT count(*), coalesce(sum(realised_direction = direction), 0) FROM ("
                "SELECT realised_direction, direction FROM predictions WHERE pair = ?"
                " AND model_version = ? AND member = ? AND realised_direction IS NOT NULL"
                " ORDER BY candle_time DESC LIMIT ?)",
                (pair, model_version, member, k),
            ).fetchone()
        return int(n), int(correct)

    def shadow_pairs(
        self, pair: str, challenger: str, reference: str | None
    ) -> list[tuple[datetime, datetime, float, float | None, bool]]:
        """The challenger's settled shadow predictions, oldest candle first, with the reference's.

        Args:
            pair: The pair.
            challenger: The challenger's model version (its ``challenger`` role rows).
            reference: The served version compared with it on the same candles (``None``: no
                reference row is joined and its probability is ``None``).

        Returns:
            ``(candle_time, target_time, challenger P(up), reference P(up) or None, up)`` per
            settled candle; candles the reference did not predict are left out.
        """
        sql = (
            "SELECT c.candle_time, c.target_time, c.probability, r.probability,"
            " c.realised_direction = 'up' FROM predictions c"
            " LEFT JOIN predictions r ON r.pair = c.pair AND r.candle_time = c.candle_time"
            " AND r.member = '' AND r.role = 'served' AND r.model_version = ?"
            " WHERE c.pair = ? AND c.model_version = ? AND c.member = '' AND c.role = 'challenger'"
            " AND c.realised_direction IS NOT NULL"
        )
        if reference is not None:
            sql += " AND r.probability IS NOT NULL"
        with self._locked() as conn:
            rows = conn.execute(
                sql + " ORDER BY c.candle_time", (reference or "", pair, challenger)
            ).fetchall()
        return [
            (
                _time(row[0]),
                _time(row[1]),
                float(row[2]),
                None if row[3] is None else float(row[3]),
                bool(row[4]),
            )
            for row in rows
        ]

    def candle_window(self, pair: str, since: datetime, member: str = "") -> list[PredictionRecord]:
        """The pair's predictions of candles opened at or after ``since``, oldest first.

        Args:
            pair: The pair.
            since: First candle open time.
            member: ``''`` (the served candidate, every version) or a member's name.
        """
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT * FROM predictions WHERE pair = ? AND candle_time >= ? AND member = ?"
                " ORDER BY candle_time, id",
                (pair, to_db_time(since), member),
            ).fetchall()
        return [_record_from_row(row) for row in rows]

    def settled_outcomes(
        self, pair: str, model_version: str, member: str = ""
    ) -> list[tuple[datetime, bool, bool]]:
        """``(target_time, correct, went_up)`` of each settled prediction of a version.

        One row per candle (the unique key), in target-time order: the cumulative sums are the
        live accuracy counters as they grew.
        """
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT target_time, realised_direction = direction, realised_direction = 'up'"
                " FROM predictions WHERE pair = ? AND model_version = ? AND member = ?"
                " AND realised_direction IS NOT NULL ORDER BY target_time, id",
                (pair, model_version, member),
            ).fetchall()
        return [(datetime.fromisoformat(row[0]), bool(row[1]), bool(row[2])) for row in rows]

    def row_count(self) -> int:
        """How many predictions are stored (from the counters: no table scan)."""
        with self._locked() as conn:
            return int(
                conn.execute("SELECT coalesce(sum(n), 0) FROM prediction_counts").fetchone()[0]
            )

    def stats(self) -> dict[str, Any]:
        """Summary for a health/stats endpoint (counters and index lookups, no table scan).

        Returns:
            ``path``, ``rows``, ``rows_per_pair``, ``pending``, ``realised``, ``oldest`` and
            ``newest`` (``predicted_at``; ``None`` when empty), ``file_size_bytes``,
            ``wal_size_bytes``, ``journal_mode`` and ``schema_version``.
        """
        with self._transaction("DEFERRED") as conn:
            per_pair = conn.execute(
                "SELECT pair, sum(n), sum(n - n_realised) FROM prediction_counts GROUP BY pair"
                " HAVING sum(n) > 0 ORDER BY pair"
            ).fetchall()
            oldest = conn.execute("SELECT min(predicted_at) FROM predictions").fetchone()[0]
            newest = conn.execute("SELECT max(predicted_at) FROM predictions").fetchone()[0]
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        rows = sum(int(count) for _, count, _ in per_pair)
        pending = sum(int(waiting) for _, _, waiting in per_pair)
        wal = self.path.with_name(self.path.name + "-wal")
        return {
            "path": str(self.path),
            "rows": rows,
            "rows_per_pair": {pair: int(count) for pair, count, _ in per_pair},
            "pending": int(pending),
            "realised": rows - int(pending),
            "oldest": from_db_time(oldest),
            "newest": from_db_time(newest),
            "file_size_bytes": self.path.stat().st_size,
            "wal_size_bytes": wal.stat().st_size if wal.exists() else 0,
            "journal_mode": str(mode),
            "schema_version": int(version),
        }

    def cleanup(self, older_than_hours: float, *, now: datetime | None = None) -> int:
        """Delete predictions served strictly before ``now - older_than_hours``.

        Rows at or after the cut-off are never deleted.

        Args:
            older_than_hours: Age limit in hours (>= 0), e.g. 168 for one week.
            now: Reference time (default: the current time).

        Returns:
            The number of rows deleted.
        """
        if not math.isfinite(older_than_hours) or older_than_hours < 0:
            raise StorageError(
                f"cleanup needs a finite, non-negative age in hours, got {older_than_hours}."
            )
        cutoff = (now or datetime.now(UTC)) - timedelta(hours=older_than_hours)
        with self._transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM predictions WHERE predicted_at < ?", (to_db_time(cutoff),)
            ).rowcount
        logger.info("Deleted %d predictions served before %s", deleted, cutoff.isoformat())
        return int(deleted)
