"""The holdout ledger: where each pair's holdout starts, every move, and who scored it.

The store is the pair's MLflow experiment (``mlpkg/<PAIR>``), so the ledger lives beside the
runs it governs and moves with the tracking store (SQLite file or tracking server):

* experiment tag ``mlpkg.holdout.<n>`` (n = 1, 2, ...): one JSON entry per placement of the
  holdout (``start``, ``how``, ``at``, ``note``); the highest n is the current holdout;
* experiment tag ``mlpkg.holdout.seen_until``: the newest candle any decision has read
  (holdout scorings and final fits); a new holdout must start after it;
* run tags ``mlpkg.holdout_scored`` (the candidate), ``mlpkg.holdout_first`` and
  ``mlpkg.holdout_last`` (the first and last holdout rows it scored) on every run that scored a
  candidate on a holdout: a use is counted by **time overlap** with those rows, whatever the
  data checksum, ``max_rows`` or ``data_end`` of either run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import mlflow
import pandas as pd

from mlpkg.config import Settings
from mlpkg.tracking.runs import ensure_experiment, experiment_name

ENTRY_TAG = "mlpkg.holdout."
SEEN_TAG = "mlpkg.holdout.seen_until"
SCORED_TAG = "mlpkg.holdout_scored"
FIRST_TAG = "mlpkg.holdout_first"
LAST_TAG = "mlpkg.holdout_last"


@dataclass(frozen=True)
class LedgerEntry:
    """One placement of a pair's holdout.

    Attributes:
        number: 1 for the first placement, then one more per move.
        start: The open time of the holdout's first candle (UTC).
        how: ``first-train``, ``start`` (``mlpkg holdout --start``) or ``roll``.
        at: When it was recorded (UTC ISO time).
        note: Free text (who moved it, why).
    """

    number: int
    start: pd.Timestamp
    how: str
    at: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON form stored in the experiment tag."""
        return {"start": self.start.isoformat(), "how": self.how, "at": self.at, "note": self.note}


@dataclass(frozen=True)
class Ledger:
    """Every placement of a pair's holdout (oldest first) and the newest candle decisions read."""

    pair: str
    entries: tuple[LedgerEntry, ...]
    seen_until: pd.Timestamp | None

    @property
    def current(self) -> LedgerEntry | None:
        """The holdout in force (None before the pair's first training run)."""
        return self.entries[-1] if self.entries else None


@dataclass(frozen=True)
class HoldoutUse:
    """An earlier scoring of a candidate on rows of a holdout."""

    run_id: str
    candidate: str
    first: pd.Timestamp
    last: pd.Timestamp


def _experiment(pair: str, settings: Settings | None) -> Any:
    """The pair's experiment: in the store of ``settings``, or (None) the configured store."""
    if settings is not None:
        ensure_experiment(pair, settings)
    found = mlflow.get_experiment_by_name(experiment_name(pair))
    if found is None:
        ensure_experiment(pair, settings)
        found = mlflow.get_experiment_by_name(experiment_name(pair))
    return found


def _utc(text: str) -> pd.Timestamp:
    stamp = pd.Timestamp(text)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def read_ledger(pair: str, settings: Settings | None = None) -> Ledger:
    """The pair's ledger as stored in its experiment's tags (empty before the first train)."""
    tags = dict(_experiment(pair, settings).tags)
    entries = []
    for key, value in tags.items():
        suffix = key.removeprefix(ENTRY_TAG)
        if key.startswith(ENTRY_TAG) and suffix.isdigit():
            data = json.loads(value)
            entries.append(
                LedgerEntry(
                    int(suffix), _utc(data["start"]), data["how"], data["at"], data.get("note", "")
                )
            )
    seen = tags.get(SEEN_TAG)
    return Ledger(
        pair, tuple(sorted(entries, key=lambda e: e.number)), _utc(seen) if seen else None
    )


def record_holdout(
    pair: str, start: pd.Timestamp, how: str, note: str = "", settings: Settings | None = None
) -> LedgerEntry:
    """Append a placement of the pair's holdout to the ledger and return it.

    The caller checks that the move is allowed (``mlpkg.pipelines.ledger``); this only writes.
    """
    ledger = read_ledger(pair, settings)
    number = ledger.current.number + 1 if ledger.current else 1
    entry = LedgerEntry(number, _utc(str(start)), how, datetime.now(UTC).isoformat(), note)
    experiment = _experiment(pair, settings)
    mlflow.MlflowClient().set_experiment_tag(
        experiment.experiment_id, f"{ENTRY_TAG}{number}", json.dumps(entry.as_dict())
    )
    return entry


def record_seen(pair: str, until: pd.Timestamp, settings: Settings | None = None) -> None:
    """Record that a decision read candles up to ``until`` (the ledger keeps the newest)."""
    ledger = read_ledger(pair, settings)
    until = _utc(str(until))
    if ledger.seen_until is not None and ledger.seen_until >= until:
        return
    experiment = _experiment(pair, settings)
    mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, SEEN_TAG, until.isoformat())


def earlier_uses(
    pair: str, first: pd.Timestamp, last: pd.Timestamp, *, exclude_run: str | None = None
) -> list[HoldoutUse]:
    """Every other run that scored a candidate on rows overlapping ``[first, last]`` in time."""
    experiment = mlflow.get_experiment_by_name(experiment_name(pair))
    if experiment is None:
        return []
    found = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"tags.`{SCORED_TAG}` != ''",
        output_format="list",
    )
    uses = []
    for run in found:
        tags = run.data.tags
        if run.info.run_id == exclude_run or FIRST_TAG not in tags or LAST_TAG not in tags:
            continue
        lo, hi = _utc(tags[FIRST_TAG]), _utc(tags[LAST_TAG])
        if lo <= _utc(str(last)) and _utc(str(first)) <= hi:
            uses.append(HoldoutUse(run.info.run_id, tags[SCORED_TAG], lo, hi))
    return sorted(uses, key=lambda use: use.first)


def record_use(
    pair: str, candidate: str, first: pd.Timestamp, last: pd.Timestamp
) -> tuple[int, list[HoldoutUse]]:
    """Tag the active run as one scoring of ``[first, last]``; return its use number k.

    k counts this run and every earlier run whose scored holdout rows overlap these in time.
    """
    run = mlflow.active_run()
    run_id = run.info.run_id if run else None
    earlier = earlier_uses(pair, first, last, exclude_run=run_id)
    mlflow.set_tags(
        {
            SCORED_TAG: candidate,
            FIRST_TAG: _utc(str(first)).isoformat(),
            LAST_TAG: _utc(str(last)).isoformat(),
        }
    )
    return len(earlier) + 1, earlier
