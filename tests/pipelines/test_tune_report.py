"""The tune report is Optuna's view of the study: table, best trial, plots, logged to MLflow.

No Ray here: the study is filled with ``Study.add_trial`` (two complete trials, one pruned after
its first fold), as the searcher would have recorded them.
"""

from __future__ import annotations

import math

import mlflow
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from mlpkg.config import RunConfig, Settings
from mlpkg.pipelines import studies
from mlpkg.pipelines.search_spaces import search_space
from mlpkg.pipelines.tune.report import log_report, summarize, trials_frame
from mlpkg.tracking import runs

C = {"logistic_c": FloatDistribution(1e-3, 1e2, log=True)}


def _trial(c: float, folds: list[float], state: TrialState):
    running = {k + 1: sum(folds[: k + 1]) / (k + 1) for k in range(len(folds))}
    return create_trial(
        state=state,
        value=running[len(folds)] if state == TrialState.COMPLETE else None,
        params={"logistic_c": c},
        distributions=C,
        intermediate_values=running,
        user_attrs={"mlflow_run_id": f"run-{c}"},
    )


@pytest.fixture
def study(tmp_path):
    storage = studies.open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    config = RunConfig.from_flat(pair="BTC", n_folds=3, models="logistic")
    record = studies.StudyRecord("s", "BTC", "logistic", config, 3, "parent")
    studies.create_study(storage, record)
    loaded = studies.load(storage, "s")
    loaded.add_trial(_trial(0.5, [0.70, 0.69, 0.68], TrialState.COMPLETE))
    loaded.add_trial(_trial(50.0, [0.80], TrialState.PRUNED))
    loaded.add_trial(_trial(0.1, [0.69, 0.68, 0.67], TrialState.COMPLETE))
    return storage, record, loaded


def test_the_trials_table_is_optunas_with_running_means_and_folds(study):
    _, _, loaded = study
    frame = trials_frame(loaded)
    assert list(frame.columns) == [
        "number",
        "state",
        "log_loss",
        "running_log_loss",
        "folds",
        "seconds",
        "logistic_c",
    ]
    assert list(frame["state"]) == ["complete", "pruned", "complete"]
    assert list(frame["folds"]) == [3, 1, 3]
    assert frame["running_log_loss"].tolist() == pytest.approx([0.69, 0.80, 0.68])
    assert math.isnan(frame.loc[1, "log_loss"]) and frame.loc[2, "log_loss"] == pytest.approx(0.68)
    assert (frame["seconds"].dropna() >= 0).all()


def test_an_empty_study_has_an_empty_table_with_the_columns():
    frame = trials_frame(optuna.create_study())
    assert frame.empty and list(frame.columns)[:2] == ["number", "state"]


def test_the_summary_takes_optunas_best_trial_and_draws_its_plots(study):
    storage, record, loaded = study
    result = summarize(storage, record, 3, search_space("logistic"))
    assert result.counts == {"complete": 2, "pruned": 1}
    assert result.best["number"] == loaded.best_trial.number == 2
    assert result.best["log_loss"] == pytest.approx(0.68)
    assert result.best["params"] == {"logistic_c": 0.1}
    assert result.best["mlflow_run_id"] == "run-0.1"
    assert set(result.figures) == {"tune_history", "tune_intermediate", "tune_slices"}
    history = result.figures["tune_history"].axes[0]
    assert history.get_ylabel() == "mean development-fold log loss"
    lines = result.figures["tune_intermediate"].axes[0].get_lines()
    assert sorted(len(line.get_xdata()) for line in lines) == [1, 3, 3]  # pruned after fold 1


def test_the_report_is_logged_to_the_parent_run(study, tmp_path):
    storage, record, _ = study
    result = summarize(storage, record, 3, search_space("logistic"))
    settings = Settings(home=tmp_path)
    uri = mlflow.get_tracking_uri()
    try:
        with runs.pair_run("BTC", settings=settings) as run:
            log_report(result)
        client = mlflow.MlflowClient(settings.resolved_tracking_uri)
        logged = client.get_run(run.info.run_id)
        names = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        top = {a.path for a in client.list_artifacts(run.info.run_id)}
    finally:
        mlflow.set_tracking_uri(uri)
    assert names == {f"plots/{n}.png" for n in ("tune_history", "tune_intermediate", "tune_slices")}
    assert "trials.csv" in top
    assert logged.data.metrics == {"trials_complete": 2.0, "trials_pruned": 1.0}
