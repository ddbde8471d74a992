"""Study storage: create, find the one to resume, close what a dead driver left, clear errors."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from mlpkg.config import RunConfig
from mlpkg.errors import StudyNotFoundError, StudyStorageError
from mlpkg.pipelines import studies

CONFIG = RunConfig.from_flat(pair="BTC", models="logistic", max_rows=900)


@pytest.fixture
def storage(tmp_path):
    return studies.open_storage(f"sqlite:///{tmp_path / 'deep' / 'optuna.db'}")


def _record(name: str, family: str = "logistic", created: str = "") -> studies.StudyRecord:
    return studies.StudyRecord(name, "BTC", family, CONFIG, 5, f"run-{name}", created)


def test_the_sqlite_storage_is_created_with_its_folder(tmp_path, storage):
    assert (tmp_path / "deep" / "optuna.db").is_file()
    assert studies.redact(storage.url).startswith("sqlite:///")


def test_an_unreachable_storage_says_what_to_set_and_hides_the_password():
    url = "postgresql+psycopg2://quant:s3cret@127.0.0.1:1/studies"
    with pytest.raises(StudyStorageError, match="MLPKG_STUDY_STORAGE") as failure:
        studies.open_storage(url)
    assert "s3cret" not in str(failure.value)
    assert "quant:***@127.0.0.1:1/studies" in str(failure.value)


def test_a_study_records_what_it_optimises(storage):
    studies.create_study(storage, _record("a"))
    found = studies.find_study(storage, name="a", pair="BTC", family=None)
    assert (found.pair, found.family, found.trials, found.parent_run_id) == (
        "BTC",
        "logistic",
        5,
        "run-a",
    )
    assert found.config == CONFIG
    with pytest.raises(StudyStorageError, match="add --resume"):
        studies.create_study(storage, _record("a"))


def test_resume_finds_the_latest_study_of_pair_and_family(storage):
    studies.create_study(storage, _record("old", created="2026-01-01T00:00:00"))
    studies.create_study(storage, _record("new", created="2026-02-01T00:00:00"))
    studies.create_study(storage, _record("gbm", "lightgbm", created="2026-03-01T00:00:00"))
    assert studies.find_study(storage, name=None, pair="BTC", family="logistic").name == "new"
    assert studies.find_study(storage, name=None, pair="BTC", family=None).name == "gbm"
    with pytest.raises(StudyNotFoundError, match="No study for ETH/logistic"):
        studies.find_study(storage, name=None, pair="ETH", family="logistic")
    with pytest.raises(StudyNotFoundError, match="without --resume"):
        studies.find_study(storage, name="nope", pair="BTC", family=None)


def test_a_study_not_made_by_mlpkg_cannot_be_resumed(storage):
    optuna.create_study(storage=storage, study_name="foreign")
    with pytest.raises(StudyNotFoundError, match="not started by `mlpkg tune`"):
        studies.find_study(storage, name="foreign", pair="BTC", family=None)


def test_trials_a_dead_driver_left_running_become_fail_and_do_not_count(storage):
    studies.create_study(storage, _record("s"))
    study = optuna.load_study(study_name="s", storage=storage)
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    done, pruned, stale = (study.ask(space) for _ in range(3))
    study.tell(done, 0.69)
    study.tell(pruned, state=TrialState.PRUNED)
    assert studies.count_finished(storage, "s") == 2
    assert studies.mark_interrupted(storage, "s") == [stale.number]
    trials = {t.number: t for t in study.get_trials()}
    assert trials[stale.number].state == TrialState.FAIL
    assert trials[stale.number].user_attrs[studies.INTERRUPTED_ATTR] is True
    assert trials[done.number].value == 0.69
    assert studies.count_finished(storage, "s") == 2
