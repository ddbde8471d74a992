from __future__ import annotations

import dataclasses
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import prediction_record

from mlpkg.storage import PredictionRecord, PredictionStore, StorageError, target_time

HOUR = timedelta(hours=1)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]


def make_record(
    *,
    pair: str = "BTC",
    candle: int = 0,
    horizon: int = 1,
    close: float = 100.0,
    direction: str = "up",
    served: datetime | None = None,
    model_version: str | None = "3",
    request_id: str | None = None,
    member: str = "",
) -> PredictionRecord:
    candle_time = T0 + candle * HOUR
    return prediction_record(
        candle_time,
        pair=pair,
        predicted_at=served or candle_time + HOUR + timedelta(seconds=5),
        horizon=horizon,
        probability=0.7 if direction == "up" else 0.3,
        direction=direction,
        confidence=0.4,
        signal="BUY" if direction == "up" else "SELL",
        model_version=model_version,
        run_id="abc123",
        close_at_prediction=close,
        request_id=request_id,
        member=member,
    )


@pytest.fixture
def store(tmp_path: Path):
    with PredictionStore(tmp_path / "sub" / "predictions.db") as opened:
        yield opened


def closes_at(values: dict[int, float]) -> pd.Series:
    index = pd.DatetimeIndex(
        [T0 + i * HOUR for i in values], dtype="datetime64[us, UTC]", name="open_time"
    )
    return pd.Series(list(values.values()), index=index, dtype="float64")


# --- records ---------------------------------------------------------------------------------


def test_create_derives_target_time_from_horizon_and_interval():
    record = make_record(candle=2, horizon=5)
    assert record.target_time == T0 + 7 * HOUR
    assert target_time(T0, 3, timedelta(minutes=15)) == T0 + timedelta(minutes=45)


@pytest.mark.parametrize(
    "change",
    [
        {"predicted_at": datetime(2024, 1, 1)},
        {"probability": 1.5},
        {"direction": "sideways"},
        {"realised_direction": "flat"},
        {"close_at_prediction": float("nan")},
        {"pair": ""},
        {"target_time": T0},
    ],
)
def test_record_rejects_invalid_fields(change):
    with pytest.raises(StorageError):
        dataclasses.replace(make_record(), **change)


# --- add / history ---------------------------------------------------------------------------


def test_add_round_trips_every_field(store):
    record = make_record(request_id="req-1")
    record_id = store.add(record)
    assert record_id >= 1
    assert store.history("BTC") == [dataclasses.replace(record, id=record_id)]
    assert store.get(record_id) == dataclasses.replace(record, id=record_id)
    assert store.get(record_id + 1000) is None


def test_history_is_newest_first_with_limit_and_since(store):
    served = [T0 + timedelta(minutes=m) for m in (30, 10, 50, 20, 40)]
    ids = {s: store.add(make_record(served=s, candle=i)) for i, s in enumerate(served)}
    store.add(make_record(pair="ETH", served=T0 + timedelta(hours=5)))

    history = store.history("BTC")
    assert [r.predicted_at for r in history] == sorted(served, reverse=True)
    assert [r.id for r in history] == [ids[s] for s in sorted(served, reverse=True)]
    assert [r.predicted_at for r in store.history("BTC", limit=2)] == sorted(served)[-1:-3:-1]
    since = store.history("BTC", since=T0 + timedelta(minutes=30))
    assert [r.predicted_at.minute for r in since] == [50, 40, 30]
    assert store.history("LTC") == []


def test_history_rejects_bad_arguments(store):
    with pytest.raises(StorageError, match="limit"):
        store.history("BTC", limit=0)
    with pytest.raises(StorageError, match="tz-aware"):
        store.history("BTC", since=datetime(2024, 1, 1))


def test_one_row_per_pair_version_member_and_candle(store):
    first, created = store.add_once(make_record(candle=1, served=T0 + 2 * HOUR))
    again, created_again = store.add_once(make_record(candle=1, close=1.0, served=T0 + 3 * HOUR))
    assert created and not created_again
    assert again == first and again.close_at_prediction == 100.0  # the first one is kept
    assert store.add(make_record(candle=1)) == first.id
    other_version = store.add(make_record(candle=1, model_version="4"))
    member = store.add(make_record(candle=1, member="gru"))  # a member answer beside it
    other_candle = store.add(make_record(candle=2))
    assert len({first.id, other_version, member, other_candle}) == 4
    assert store.row_count() == store.stats()["rows"] == 4
    assert store.find("BTC", "3", T0 + HOUR, member="gru").id == member
    assert store.find("BTC", "3", T0 + 5 * HOUR) is None


def test_request_id_deduplicates_and_versionless_rows_are_not_keyed(store):
    keyed = store.add(make_record(candle=1), request_id="r-7")
    again = store.add(make_record(candle=9, close=1.0), request_id="r-7")
    assert again == keyed and store.get(keyed).close_at_prediction == 100.0
    loose = [store.add(make_record(candle=1, model_version=None)) for _ in range(2)]
    assert len(set(loose)) == 2  # no version, no unique key (SQLite NULLs are distinct)
    assert store.row_count() == 3


# --- outcomes ----------------------------------------------------------------------------------


def test_fill_outcomes_sets_direction_with_ties_down_and_only_for_available_targets(store):
    up = store.add(make_record(candle=0, close=100.0))  # target candle 1
    down = store.add(make_record(candle=1, close=100.0))  # target candle 2
    tie = store.add(make_record(candle=2, close=100.0))  # target candle 3
    missing = store.add(make_record(candle=3, close=100.0))  # target candle 4: not given
    nan = store.add(make_record(candle=4, close=100.0))  # target candle 5: NaN
    other_pair = store.add(make_record(pair="ETH", candle=0, close=100.0))
    now = T0 + timedelta(days=1)

    closes = closes_at({1: 101.0, 2: 99.5, 3: 100.0, 5: np.nan})
    assert store.fill_outcomes("BTC", closes, now=now) == 3

    got = {i: store.get(i) for i in (up, down, tie, missing, nan, other_pair)}
    assert [got[i].realised_direction for i in (up, down, tie)] == ["up", "down", "down"]
    assert [got[i].realised_close for i in (up, down, tie)] == [101.0, 99.5, 100.0]
    assert all(got[i].realised_at == now for i in (up, down, tie))
    assert all(got[i].realised_direction is None for i in (missing, nan, other_pair))
    assert got[missing].realised_at is None


def test_fill_outcomes_is_idempotent_and_fills_late_targets(store):
    store.add(make_record(candle=0, close=100.0))
    late = store.add(make_record(candle=1, close=100.0))
    closes = closes_at({1: 90.0})
    assert store.fill_outcomes("BTC", closes, now=T0 + 3 * HOUR) == 1
    assert store.fill_outcomes("BTC", closes, now=T0 + 4 * HOUR) == 0
    # A revised close for an already realised target changes nothing.
    assert store.fill_outcomes("BTC", closes_at({1: 200.0, 2: 120.0})) == 1
    first = store.history("BTC")[-1]
    assert (first.realised_direction, first.realised_close) == ("down", 90.0)
    assert first.realised_at == T0 + 3 * HOUR
    assert store.get(late).realised_direction == "up"


def test_fill_outcomes_matches_the_label_rule_on_real_candles(store, btc_candles):
    close = btc_candles["close"].iloc[:300]
    horizon = 5
    for i in range(len(close) - horizon):
        record = make_record(close=float(close.iloc[i]), horizon=horizon)
        store.add(
            dataclasses.replace(
                record,
                candle_time=close.index[i].to_pydatetime(),
                target_time=close.index[i + horizon].to_pydatetime(),
            )
        )
    assert store.fill_outcomes("BTC", close) == len(close) - horizon
    expected = (close.shift(-horizon) > close).iloc[: len(close) - horizon]
    realised = sorted(store.history("BTC", limit=1000), key=lambda r: r.candle_time)
    assert [r.realised_direction == "up" for r in realised] == expected.tolist()


def test_fill_outcomes_rejects_naive_index_and_ignores_empty(store):
    store.add(make_record())
    naive = pd.Series([1.0], index=pd.DatetimeIndex([datetime(2024, 1, 1, 1)]))
    with pytest.raises(StorageError, match="tz-aware"):
        store.fill_outcomes("BTC", naive)
    assert store.fill_outcomes("BTC", closes_at({})) == 0


def test_live_accuracy_counts_realised_and_pending(store):
    assert store.live_accuracy("BTC") == {
        "n_realised": 0,
        "n_correct": 0,
        "accuracy": None,
        "n_pending": 0,
        "n_up": 0,
        "up_rate": None,
    }
    store.add(make_record(candle=0, direction="up"))  # realised up: correct
    store.add(make_record(candle=1, direction="up"))  # realised down: wrong
    store.add(make_record(candle=2, direction="down", model_version="4"))  # down: correct
    store.add(make_record(candle=3, direction="down"))  # pending
    for _ in range(3):  # repeated requests for a candle count once
        store.add(make_record(candle=0, direction="up"))
    store.fill_outcomes("BTC", closes_at({1: 101.0, 2: 99.0, 3: 98.0}))

    accuracy = store.live_accuracy("BTC")
    assert accuracy == {
        "n_realised": 3,
        "n_correct": 2,
        "accuracy": 2 / 3,
        "n_pending": 1,
        "n_up": 1,
        "up_rate": 1 / 3,
    }
    assert store.live_accuracy("BTC", model_version="4")["accuracy"] == 1.0
    assert store.live_accuracy("ETH")["accuracy"] is None
    by_version = store.accuracy_by_version("BTC")
    assert list(by_version) == ["4", "3"]
    assert (by_version["3"]["n_realised"], by_version["3"]["n_pending"]) == (2, 1)


def test_counters_equal_a_recount_after_inserts_outcomes_and_cleanup(store):
    for i in range(12):
        store.add(make_record(candle=i, direction="up" if i % 3 else "down", served=T0 + i * HOUR))
    store.fill_outcomes("BTC", closes_at({i: 100.0 + (-1) ** i for i in range(1, 9)}))
    store.cleanup(1, now=T0 + 5 * HOUR)  # deletes the rows served before hour 4
    rows = store.history("BTC", limit=100)
    realised = [r for r in rows if r.realised_direction is not None]
    counted = store.live_accuracy("BTC", model_version="3")
    assert store.row_count() == len(rows) == 8
    assert counted["n_realised"] == len(realised)
    assert counted["n_correct"] == sum(r.correct for r in realised)
    assert counted["n_up"] == sum(r.realised_direction == "up" for r in realised)
    assert counted["n_pending"] == len(rows) - len(realised)


def test_recent_settled_and_settled_at_read_the_last_outcomes(store):
    for i in range(6):
        store.add(make_record(candle=i, direction="up"))
    store.fill_outcomes("BTC", closes_at({1: 101.0, 2: 99.0, 3: 102.0, 4: 103.0}))
    assert store.recent_settled("BTC", "3", 2) == (2, 2)  # candles 3 and 2: both up targets
    assert store.recent_settled("BTC", "3", 10) == (4, 3)
    assert store.recent_settled("BTC", "9", 10) == (0, 0)
    settled = store.settled_at("BTC", T0 + 2 * HOUR)
    assert [r.candle_time for r in settled] == [T0 + HOUR]
    assert settled[0].realised_direction == "down"


# --- retention / maintenance --------------------------------------------------------------------


def test_cleanup_deletes_only_rows_strictly_older_than_the_cutoff(store):
    now = T0 + timedelta(days=10)
    cutoff = now - timedelta(hours=168)
    old = store.add(make_record(served=cutoff - timedelta(microseconds=1), candle=0))
    older = store.add(make_record(served=cutoff - timedelta(days=2), candle=1))
    at_cutoff = store.add(make_record(served=cutoff, candle=2))
    newer = store.add(make_record(served=cutoff + timedelta(microseconds=1), candle=3))
    newest = store.add(make_record(served=now, candle=4))

    assert store.cleanup(168, now=now) == 2
    assert store.get(old) is None and store.get(older) is None
    assert all(store.get(i) is not None for i in (at_cutoff, newer, newest))
    assert store.cleanup(168, now=now) == 0
    assert store.cleanup(0, now=now) == 2
    assert [r.id for r in store.history("BTC")] == [newest]


@pytest.mark.parametrize("hours", [-1.0, float("nan"), float("inf")])
def test_cleanup_rejects_invalid_ages(store, hours):
    store.add(make_record())
    with pytest.raises(StorageError):
        store.cleanup(hours)
    assert store.stats()["rows"] == 1


def test_stats_summarise_the_store(store):
    assert store.stats()["oldest"] is None
    store.add(make_record(served=T0 + HOUR))
    store.add(make_record(served=T0 + 3 * HOUR, candle=1))
    store.add(make_record(pair="ETH", served=T0 + 2 * HOUR))
    store.fill_outcomes("BTC", closes_at({1: 50.0}))

    stats = store.stats()
    assert stats["rows"] == 3
    assert stats["rows_per_pair"] == {"BTC": 2, "ETH": 1}
    assert (stats["pending"], stats["realised"]) == (2, 1)
    assert (stats["oldest"], stats["newest"]) == (T0 + HOUR, T0 + 3 * HOUR)
    assert stats["file_size_bytes"] > 0
    assert stats["journal_mode"] == "wal"
    assert stats["schema_version"] == store.schema_version == len(PredictionStore.MIGRATIONS)


def test_store_uses_wal_and_full_synchronous(store):
    store.add(make_record())
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT count(*) FROM predictions").fetchone()[0] == 1


def test_checkpoint_empties_the_wal_and_integrity_check_passes(store):
    for i in range(20):
        store.add(make_record(candle=i))
    wal = store.path.with_name(store.path.name + "-wal")
    assert wal.stat().st_size > 0
    assert store.checkpoint() > 0
    assert wal.stat().st_size == 0
    assert store.checkpoint() == 0
    assert store.integrity_check()
    assert store.stats()["rows"] == 20


# --- lifecycle / failure modes ------------------------------------------------------------------


def test_reopen_after_close_keeps_data_and_closed_store_refuses_work(tmp_path):
    path = tmp_path / "p.db"
    store = PredictionStore(path).open()
    record_id = store.add(make_record())
    store.close()
    store.close()
    with pytest.raises(StorageError, match="not open"):
        store.history("BTC")
    with PredictionStore(path) as reopened:
        assert [r.id for r in reopened.history("BTC")] == [record_id]
        assert reopened.add(make_record(candle=1)) == record_id + 1


def test_corrupt_file_raises_clear_error_and_is_left_untouched(tmp_path):
    path = tmp_path / "predictions.db"
    garbage = b"this is not a database \x00\xff" * 200
    path.write_bytes(garbage)

    with pytest.raises(StorageError) as info:
        PredictionStore(path).open()

    message = str(info.value)
    assert "not a valid SQLite database" in message
    assert str(path) in message
    assert "move the file aside" in message
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.db"]


def test_database_from_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "p.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StorageError, match="newer"):
        PredictionStore(path).open()


def test_empty_existing_file_is_migrated(tmp_path):
    path = tmp_path / "p.db"
    path.touch()
    with PredictionStore(path) as store:
        assert store.stats()["schema_version"] == len(PredictionStore.MIGRATIONS)
        assert store.add(make_record()) == 1


def _v1_store(path: Path, rows: list[tuple[str, str | None, int, float, str | None]]) -> None:
    """A schema-v1 store holding (pair, version, candle, probability, realised) rows."""
    from mlpkg.storage.predictions import _PREDICTIONS_V1

    with sqlite3.connect(path) as conn:
        for statement in _PREDICTIONS_V1:
            conn.execute(statement)
        for i, (pair, version, candle, proba, realised) in enumerate(rows):
            stamp = (T0 + candle * HOUR).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            target = (T0 + (candle + 1) * HOUR).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            served = (T0 + timedelta(days=1, seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            conn.execute(
                "INSERT INTO predictions (pair, predicted_at, candle_time, horizon, target_time,"
                " probability, direction, confidence, signal, model_name, model_version,"
                " close_at_prediction, realised_direction) VALUES (?, ?, ?, 1, ?, ?, 'up',"
                " 0.1, 'HOLD', 'mlpkg-BTC', ?, 100.0, ?)",
                (pair, served, stamp, target, proba, version, realised),
            )
        conn.execute("PRAGMA user_version = 1")


def test_a_v1_store_migrates_keeping_the_first_of_each_duplicate_candle(tmp_path):
    path = tmp_path / "v1.db"
    _v1_store(
        path,
        [
            ("BTC", "1", 0, 0.61, "up"),
            ("BTC", "1", 0, 0.62, "up"),
            ("BTC", "1", 0, 0.63, "up"),
            ("BTC", "1", 1, 0.71, "down"),
            ("BTC", "2", 1, 0.81, None),
            ("ETH", "1", 0, 0.91, None),
            ("BTC", None, 0, 0.5, None),
            ("BTC", None, 0, 0.5, None),
        ],
    )
    with PredictionStore(path) as store:
        assert store.stats()["schema_version"] == len(PredictionStore.MIGRATIONS)
        rows = store.history("BTC", limit=100) + store.history("ETH")
        kept = sorted((r.pair, r.model_version or "", r.candle_time, r.probability) for r in rows)
        assert kept == [
            ("BTC", "", T0, 0.5),
            ("BTC", "", T0, 0.5),
            ("BTC", "1", T0, 0.61),
            ("BTC", "1", T0 + HOUR, 0.71),
            ("BTC", "2", T0 + HOUR, 0.81),
            ("ETH", "1", T0, 0.91),
        ]
        assert all(r.member == "" and r.ood is None for r in rows)
        assert store.live_accuracy("BTC", model_version="1") == {
            "n_realised": 2,
            "n_correct": 1,
            "accuracy": 0.5,
            "n_pending": 0,
            "n_up": 1,
            "up_rate": 0.5,
        }
        assert store.row_count() == 6
        duplicate = dataclasses.replace(make_record(model_version="1"), candle_time=T0)
        assert store.add(duplicate) == min(r.id for r in rows if r.probability == 0.61)


# --- concurrency / durability -------------------------------------------------------------------


def _add_many(store: PredictionStore, pair: str, count: int, ids: list[int]) -> None:
    for i in range(count):
        ids.append(store.add(make_record(pair=pair, candle=i)))


def test_concurrent_writers_on_one_store_lose_nothing(store):
    ids: list[int] = []
    threads = [threading.Thread(target=_add_many, args=(store, f"P{n}", 50, ids)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == len(set(ids)) == 400
    stats = store.stats()
    assert stats["rows"] == 400
    assert set(stats["rows_per_pair"].values()) == {50}


def test_concurrent_writers_with_separate_connections_lose_nothing(tmp_path):
    path = tmp_path / "p.db"
    stores = [PredictionStore(path).open() for _ in range(4)]
    ids: list[int] = []
    threads = [
        threading.Thread(target=_add_many, args=(s, f"P{n}", 50, ids)) for n, s in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for s in stores:
        s.close()
    with PredictionStore(path) as store:
        assert store.stats()["rows"] == len(set(ids)) == 200
        assert store.integrity_check()


CHILD = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from mlpkg.storage import PredictionRecord, PredictionStore

store = PredictionStore(Path(sys.argv[1])).open()
t0 = datetime(2024, 1, 1, tzinfo=UTC)
for i in range(1_000_000):
    record = PredictionRecord.create(
        pair="BTC", predicted_at=datetime.now(UTC), candle_time=t0 + timedelta(hours=i),
        horizon=1, interval=timedelta(hours=1), probability=0.6, direction="up",
        confidence=0.2, signal="BUY", model_name="mlpkg-BTC", model_version="1",
        run_id=None, close_at_prediction=100.0 + i,
    )
    sys.stdout.write(f"{store.add(record)}\\n")
    sys.stdout.flush()
"""


def test_committed_predictions_survive_sigkill(tmp_path):
    path = tmp_path / "p.db"
    wanted = 200
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reported: list[int] = []
    try:
        while len(reported) < wanted:
            line = child.stdout.readline()
            assert line, f"child died early: {child.stderr.read()}"
            reported.append(int(line))
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=60)
    reported += [int(line) for line in rest.splitlines() if line.strip()]
    assert child.returncode == -signal.SIGKILL

    with PredictionStore(path) as store:
        assert store.integrity_check()
        stored = {r.id for r in store.history("BTC", limit=10**6)}
    assert set(reported) <= stored
    assert len(reported) >= wanted


# --- roles: the challenger's shadow predictions ----------------------------------------------


def _shadow(candle: int, version: str, probability: float, role: str) -> PredictionRecord:
    from dataclasses import replace

    return replace(
        make_record(candle=candle, model_version=version), probability=probability, role=role
    )


def test_shadow_predictions_stay_out_of_the_served_history(store):
    store.add(make_record(candle=0, model_version="3"))
    store.add(_shadow(0, "4", 0.6, "challenger"))

    served = store.history("BTC")
    shadow = store.history("BTC", role="challenger")

    assert [(r.model_version, r.role) for r in served] == [("3", "served")]
    assert [(r.model_version, r.role) for r in shadow] == [("4", "challenger")]
    with pytest.raises(StorageError, match="role"):
        _shadow(0, "4", 0.6, "canary")


def test_shadow_pairs_join_settled_challenger_and_reference_rows_on_their_candles(store):
    for candle in range(4):
        store.add(_shadow(candle, "4", 0.6 + candle / 100, "challenger"))
    for candle in (0, 1, 3):  # the reference missed candle 2
        store.add(make_record(candle=candle, model_version="3"))
    store.fill_outcomes("BTC", closes_at({1: 101.0, 2: 99.0, 3: 101.0}))  # targets of 0..2

    joined = store.shadow_pairs("BTC", "4", "3")
    alone = store.shadow_pairs("BTC", "4", None)

    assert [(r[0], r[2], r[3], r[4]) for r in joined] == [
        (T0, 0.6, 0.7, True),
        (T0 + HOUR, 0.61, 0.7, False),
    ]
    assert [(r[0], r[1], r[3]) for r in alone] == [
        (T0, T0 + HOUR, None),
        (T0 + HOUR, T0 + 2 * HOUR, None),
        (T0 + 2 * HOUR, T0 + 3 * HOUR, None),
    ]


def test_a_store_of_the_previous_schema_gets_the_role_column(tmp_path):
    from mlpkg.storage.predictions import _PREDICTIONS_ROLE

    path = tmp_path / "old.db"
    old = PredictionStore.MIGRATIONS[: PredictionStore.MIGRATIONS.index(_PREDICTIONS_ROLE)]
    with sqlite3.connect(path) as conn:
        for migration in old:
            for statement in migration:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(old)}")
    with PredictionStore(path) as store:
        store.add(make_record())
        assert [r.role for r in store.history("BTC")] == ["served"]
