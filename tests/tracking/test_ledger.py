"""The holdout ledger's store: placements in experiment tags, uses counted by time overlap."""

from __future__ import annotations

import mlflow
import pandas as pd

from mlpkg.tracking import ledger


def _t(hours: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours, "h")


def test_placements_are_appended_and_the_newest_is_current(tracking_store):
    assert ledger.read_ledger("TEST").current is None
    first = ledger.record_holdout("TEST", _t(100), "first-train", "from default")
    second = ledger.record_holdout("TEST", _t(300), "roll", "weekly")

    book = ledger.read_ledger("TEST")
    assert [e.number for e in book.entries] == [1, 2]
    assert book.current == second and book.entries[0] == first
    assert book.current.start == _t(300) and book.current.how == "roll"
    assert book.current.note == "weekly"


def test_seen_until_only_moves_forward(tracking_store):
    ledger.record_seen("TEST", _t(50))
    ledger.record_seen("TEST", _t(40))
    assert ledger.read_ledger("TEST").seen_until == _t(50)
    ledger.record_seen("TEST", _t(60))
    assert ledger.read_ledger("TEST").seen_until == _t(60)


def _score(first: int, last: int, candidate: str = "lstm") -> int:
    with mlflow.start_run():
        use, _ = ledger.record_use("TEST", candidate, _t(first), _t(last))
    return use


def test_every_scoring_of_overlapping_rows_counts_and_disjoint_rows_do_not(tracking_store):
    assert _score(100, 200) == 1
    assert _score(100, 201) == 2  # one more candle: the old checksum key read "1 use" here
    assert _score(150, 180, "gru") == 3  # a shorter slice (another max_rows / data_end)
    assert _score(201, 300) == 2  # touches only the row 201 of the second scoring
    assert _score(400, 500) == 1  # a fresh holdout: no earlier decision saw these rows
    with mlflow.start_run():  # a run that scored nothing is not a use
        mlflow.set_tag("kind", "evaluate")
    earlier = ledger.earlier_uses("TEST", _t(0), _t(1000))
    assert len(earlier) == 5
    assert [u.candidate for u in earlier].count("gru") == 1
