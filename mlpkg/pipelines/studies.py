"""Optuna studies in an RDB storage: where a tune's trials live, so a killed tune can resume.

The storage is ``Settings.resolved_study_storage``: a SQLite file under ``mlruns/`` by default
(``mlruns/optuna.db``), or any SQLAlchemy URL (``MLPKG_STUDY_STORAGE=postgresql+psycopg2://
user:password@host/db``) shared by the machines that run tunes. Only the tune's driver
writes to it: Ray Tune runs the Optuna searcher in the driver process, the workers only train.

A study records what it optimises as user attributes (``mlpkg_*``: pair, family, the run
config, the requested trial count, the MLflow parent run), so ``--resume`` continues with the
same objective. Trials left RUNNING by a driver that died are marked FAIL (user attribute
``mlpkg_interrupted``) when the study is resumed; complete and pruned trials are kept, and
only they count towards the requested number.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from mlpkg.config import RunConfig
from mlpkg.errors import StudyNotFoundError, StudyStorageError

log = logging.getLogger(__name__)

ATTR_PREFIX = "mlpkg_"
INTERRUPTED_ATTR = "mlpkg_interrupted"
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
"""Trial states that count towards a tune's requested number of trials."""


@dataclass(frozen=True)
class StudyRecord:
    """What a study optimises, as recorded when the tune started."""

    name: str
    pair: str
    family: str
    config: RunConfig
    trials: int
    parent_run_id: str
    created: str = ""

    def attrs(self) -> dict[str, Any]:
        """The study user attributes that record it."""
        return {
            f"{ATTR_PREFIX}pair": self.pair,
            f"{ATTR_PREFIX}family": self.family,
            f"{ATTR_PREFIX}config": self.config.model_dump(mode="json"),
            f"{ATTR_PREFIX}trials": self.trials,
            f"{ATTR_PREFIX}parent_run_id": self.parent_run_id,
            f"{ATTR_PREFIX}created": self.created or datetime.now(UTC).isoformat(),
        }

    @classmethod
    def from_attrs(cls, name: str, attrs: Mapping[str, Any]) -> StudyRecord:
        """Read a record back from a study's user attributes.

        Raises:
            StudyNotFoundError: if the study was not started by ``mlpkg tune``.
        """
        try:
            return cls(
                name=name,
                pair=str(attrs[f"{ATTR_PREFIX}pair"]),
                family=str(attrs[f"{ATTR_PREFIX}family"]),
                config=RunConfig.model_validate(attrs[f"{ATTR_PREFIX}config"]),
                trials=int(attrs[f"{ATTR_PREFIX}trials"]),
                parent_run_id=str(attrs[f"{ATTR_PREFIX}parent_run_id"]),
                created=str(attrs.get(f"{ATTR_PREFIX}created", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StudyNotFoundError(
                f"Study {name!r} was not started by `mlpkg tune` (missing or invalid {exc}); "
                "resume one of the studies `mlpkg tune` created, or start a new one."
            ) from exc


def redact(url: str) -> str:
    """A storage URL with its password hidden (safe to log and to record in MLflow)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Open (and create, for SQLite) the study storage.

    Raises:
        StudyStorageError: if the URL is invalid or the database cannot be reached.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # mlpkg logs one line per trial
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except Exception as exc:  # SQLAlchemy raises many kinds (driver missing, refused, auth)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StudyStorageError(
            f"Cannot open the study storage {redact(url)}: {reason}. Set MLPKG_STUDY_STORAGE to "
            "a reachable SQLAlchemy URL (e.g. postgresql+psycopg2://user:password@host/db, with "
            "its driver installed), or unset it to use mlruns/optuna.db."
        ) from exc


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def new_study_name(pair: str, family: str) -> str:
    """A fresh study name: ``<pair>-<family>-<UTC time>``."""
    return f"{pair}-{family}-{datetime.now(UTC):%Y%m%dT%H%M%S}"


def create_study(storage: optuna.storages.RDBStorage, record: StudyRecord) -> None:
    """Create a study and record what it optimises.

    Raises:
        StudyStorageError: if a study of that name exists already.
    """
    try:
        study = optuna.create_study(storage=storage, study_name=record.name, direction="minimize")
    except optuna.exceptions.DuplicatedStudyError as exc:
        raise StudyStorageError(
            f"Study {record.name!r} exists already: add --resume to continue it, or choose "
            "another --study name."
        ) from exc
    for key, value in record.attrs().items():
        study.set_user_attr(key, value)


def find_study(
    storage: optuna.storages.RDBStorage, *, name: str | None, pair: str, family: str | None
) -> StudyRecord:
    """The study to resume: the one named, else the latest ``mlpkg tune`` study of pair/family.

    Raises:
        StudyNotFoundError: if there is no such study.
    """
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    if name is not None:
        found = [s for s in summaries if s.study_name == name]
    else:
        found = [
            s
            for s in summaries
            if s.user_attrs.get(f"{ATTR_PREFIX}pair") == pair
            and (family is None or s.user_attrs.get(f"{ATTR_PREFIX}family") == family)
        ]
    if not found:
        what = repr(name) if name else f"for {pair}" + (f"/{family}" if family else "")
        raise StudyNotFoundError(
            f"No study {what} in {redact(storage.url)} to resume. Run `mlpkg tune` without "
            "--resume to start one (or pass --study with an existing name)."
        )
    latest = max(found, key=lambda s: str(s.user_attrs.get(f"{ATTR_PREFIX}created", "")))
    return StudyRecord.from_attrs(latest.study_name, latest.user_attrs)


def mark_interrupted(storage: optuna.storages.RDBStorage, name: str) -> list[int]:
    """Mark the trials a dead driver left RUNNING or WAITING as FAIL; return their numbers."""
    study_id = storage.get_study_id_from_name(name)
    stale = [
        t
        for t in storage.get_all_trials(study_id, deepcopy=False)
        if t.state in (TrialState.RUNNING, TrialState.WAITING)
    ]
    for trial in stale:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, True)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    if stale:
        log.info("study %s: %d interrupted trial(s) marked FAIL", name, len(stale))
    return [t.number for t in stale]


def count_finished(storage: optuna.storages.RDBStorage, name: str) -> int:
    """How many trials of a study are complete or pruned."""
    study_id = storage.get_study_id_from_name(name)
    return len(storage.get_all_trials(study_id, deepcopy=False, states=FINISHED_STATES))


def load(storage: optuna.storages.RDBStorage, name: str) -> optuna.Study:
    """Load a study for reading (its trials, best trial, data frame)."""
    return optuna.load_study(study_name=name, storage=storage)
