"""Optuna on Ray Tune, for real: embedded Ray, a real `mlflow server`, killed workers and drivers.

Every tune here is tiny (logistic or LightGBM on 1,500-3,000 candles, 3 folds) so the module
stays within a few minutes on two cores. Ray is started once for the module (``ray_local``);
after it no raylet or gcs_server may remain.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import mlflow
import nbformat
import optuna
import pandas as pd
import psutil
import pytest
from optuna.trial import TrialState
from support import MLPKG_CLI, free_port, poll_until, seed_store, subprocess_env

from mlpkg import cli
from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.data.sources import load_candles
from mlpkg.pipelines import studies
from mlpkg.pipelines.tune import (
    TuneRequest,
    apply_tuned_params,
    run_trial,
    run_tune,
    tuned_params,
)
from mlpkg.tracking import runs, trials

from .conftest import RAY_TEST_ENV, kill_group

# The mlflow server is started first, so that it and Ray boot at the same time.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("_mlflow_server_process", "ray_local")]

BASE = RunConfig.from_flat(pair="BTC", max_rows=1500, n_folds=3)
STATE = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}


@pytest.fixture(autouse=True, scope="module")
def _restore_tracking_uri():
    uri = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def _mlflow_server_process(tmp_path_factory, mlflow_schema):
    """Start a real `mlflow server` (SQL backend, one worker) on a free port; stop it afterwards.

    Its store starts as a copy of the migrated schema, so the server skips MLflow's migrations.
    Yields the process, its URL and its log file; ``mlflow_server`` waits until it answers.
    """
    home = tmp_path_factory.mktemp("mlflow-server")
    shutil.copyfile(mlflow_schema, home / "server.db")
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{home / 'server.db'}",
        "--default-artifact-root",
        str(home / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield server, f"http://127.0.0.1:{port}", home / "server.log"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        finally:
            assert kill_group(server.pid) == []
            log.close()


@pytest.fixture(scope="module")
def mlflow_server(_mlflow_server_process) -> str:
    """The URL of the module's `mlflow server`, once it answers ``/health``."""
    server, url, log = _mlflow_server_process
    poll_until(
        lambda: _healthy(url) or server.poll() is not None,
        timeout=120,
        what="mlflow server",
        every=0.25,
    )
    assert server.poll() is None, log.read_text()[-3000:]
    return url


@pytest.fixture(scope="module")
def server_tune(tmp_path_factory, mlflow_server):
    """Six logistic trials, one at a time, logged by the Ray workers to the tracking server.

    ASHA prunes from the second trial on, but the seeded sampler's sixth trial completes: a
    pruned last trial's worker may be stopped before its child run is marked KILLED.
    """
    settings = Settings(home=tmp_path_factory.mktemp("tune"), tracking_uri=mlflow_server)
    lines: list = []  # ProgressEvent
    result = run_tune(
        TuneRequest(BASE, "logistic", trials=6, concurrency=1), settings, progress=lines.append
    )
    storage = studies.open_storage(settings.resolved_study_storage)
    study = optuna.load_study(study_name=result.study, storage=storage)
    return result, settings, study, lines


def _children(client: mlflow.MlflowClient, parent_id: str) -> dict[str, mlflow.entities.Run]:
    experiment = client.get_run(parent_id).info.experiment_id
    found = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent_id}'")
    return {run.info.run_id: run for run in found}


def test_a_tune_is_a_parent_run_with_one_child_run_per_trial(server_tune):
    result, settings, study, lines = server_tune
    client = mlflow.MlflowClient(settings.resolved_tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert settings.resolved_tracking_uri.startswith("http://")
    assert parent.info.status == "FINISHED"
    assert (parent.data.tags["kind"], parent.data.tags["family"]) == ("tune", "logistic")
    assert parent.data.params["tune_study"] == result.study
    assert parent.data.params["models"] == "logistic"
    children = _children(client, result.parent_run_id)
    assert len(children) == len(study.trials) == 6
    assert sorted(r.info.run_name for r in children.values()) == [
        f"trial-{n:03d}" for n in range(6)
    ]
    assert all(set(r.data.params) == {"logistic_c"} for r in children.values())
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"best_trial.json", "search_space.json", "trials.csv", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(result.parent_run_id, "plots")}
    assert plots == {f"plots/tune_{n}.png" for n in ("history", "intermediate", "slices")}
    finished = [event for event in lines if event.kind == "trial"]
    assert [(e.done, e.total) for e in finished] == [(n, 6) for n in range(1, 7)]
    assert all(e.text.startswith("trial ") for e in finished)


def test_each_child_run_holds_its_folds_and_the_state_the_study_holds(server_tune):
    result, settings, study, _ = server_tune
    client = mlflow.MlflowClient(settings.resolved_tracking_uri)
    children = _children(client, result.parent_run_id)
    for trial in study.trials:
        child = children[trial.user_attrs["mlflow_run_id"]]
        state = child.data.tags[trials.TRIAL_STATE_TAG]
        assert STATE[state] == trial.state
        assert child.data.tags[trials.TRIAL_NUMBER_TAG] == str(trial.number)
        assert float(child.data.params["logistic_c"]) == trial.params["logistic_c"]
        folds = [
            child.data.metrics[f"fold{k}_log_loss"] for k in range(len(trial.intermediate_values))
        ]
        assert set(child.data.metrics) - {"log_loss"} == {
            f"fold{k}_log_loss" for k in range(len(folds))
        }
        running = [sum(folds[: k + 1]) / (k + 1) for k in range(len(folds))]
        assert [trial.intermediate_values[k + 1] for k in range(len(folds))] == pytest.approx(
            running
        )
        if trial.state == TrialState.COMPLETE:
            assert child.info.status == "FINISHED"
            assert child.data.metrics["log_loss"] == pytest.approx(trial.value)
            assert len(folds) == 3


def test_hopeless_trials_are_pruned_after_a_fold(server_tune):
    result, settings, study, lines = server_tune
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, "ASHA pruned no trial"
    assert result.counts["pruned"] == len(pruned)
    client = mlflow.MlflowClient(settings.resolved_tracking_uri)
    for trial in pruned:
        assert len(trial.intermediate_values) < 3
        child = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert child.info.status == "KILLED"
        assert "stopped by ASHA after fold" in child.data.tags["note"]
    assert any(" pruned after fold " in event.text for event in lines)


def test_trials_never_read_the_holdout(server_tune):
    """Every trial respects one holdout, placed from the candle times alone, purged by h + 96.

    The expected start and purge are computed here from the raw candle timestamps, not with the
    functions the trials ran: the last 1,500 candles' span, its last 20 %, and a purge of the
    horizon plus the widest window the logistic space may use (1: it reads one row).
    """
    result, settings, study, _ = server_tune
    client = mlflow.MlflowClient(settings.resolved_tracking_uri)
    times = load_candles("BTC", "shipped", settings).index[-1500:]
    cut = times[0] + (times[-1] - times[0]) * 0.8
    start = times[times >= cut][0]
    purge = (BASE.horizon + 1) * pd.Timedelta(1, "h")
    best = tuned_params(result.parent_run_id, settings)
    assert pd.Timestamp(best["holdout_start"]) == start
    assert best["holdout_source"] == "default"
    assert pd.Timestamp(best["development_last"]) < start - purge
    for trial in study.trials:
        child = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert pd.Timestamp(child.data.tags["holdout_first"]) == start
        assert pd.Timestamp(child.data.tags["rows_read_until"]) < start - purge


def test_train_refuses_params_from_a_tune_whose_rows_it_would_hold_out(server_tune, monkeypatch):
    """The issue's reproducer: tune on the last 1,500 candles, then train on 3,000.

    The train run's holdout (the last 20 % of 3,000 candles) starts before the tune's, so the
    tune chose on rows this run would call untouched: refused before any fit.
    """
    result, settings, _, _ = server_tune
    for key in [k for k in os.environ if k.startswith("MLPKG_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLPKG_HOME", str(settings.home))
    monkeypatch.setenv("MLPKG_TRACKING_URI", str(settings.tracking_uri))
    get_settings.cache_clear()
    errors: list[str] = []
    monkeypatch.setattr(sys.stderr, "write", errors.append)
    try:
        options = ["--pair", "BTC", "--max-rows", "3000", "--params-from", result.parent_run_id]
        code = cli.main(["train", *options])
    finally:
        get_settings.cache_clear()
    assert code == 2
    message = "".join(errors)
    assert "the tune has seen rows this run would call untouched" in message
    client = mlflow.MlflowClient(settings.resolved_tracking_uri)
    experiment = client.get_experiment_by_name("mlpkg/BTC")
    kinds = {r.data.tags.get("kind") for r in client.search_runs([experiment.experiment_id])}
    assert "train" not in kinds  # refused before a run was opened


def test_the_best_trial_feeds_train_params_from(server_tune):
    result, settings, study, _ = server_tune
    best = tuned_params(result.parent_run_id, settings)
    assert best["number"] == study.best_trial.number
    assert best["params"] == study.best_trial.params
    assert best["log_loss"] == pytest.approx(study.best_value)
    merged = apply_tuned_params(RunConfig.from_flat(pair="BTC", models="lstm,logistic"), best)
    assert merged.models == ("logistic",)
    assert merged.logistic.c == study.best_trial.params["logistic_c"]
    kept = apply_tuned_params(RunConfig.from_flat(models="lstm,logistic"), best, {"models"})
    assert kept.models == ("lstm", "logistic")


WORKER_LIGHT = ("matplotlib", "tensorflow")
"""What a logistic trial's worker never imports (it draws nothing and fits no network)."""


def _killed_once(marker: Path):
    """A trainable that SIGKILLs its worker once, after the child run opened (fault injection).

    A closure, so Ray pickles it by value: the workers need not import this test module. After
    each trial it writes which of ``WORKER_LIGHT`` its worker has loaded to ``marker.loaded``.
    """

    def trainable(params, *, context, candles):
        def crash(run_id: str) -> None:
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)

        run_trial(params, context=context, candles=candles, on_run_opened=crash)
        loaded = sorted(name for name in WORKER_LIGHT if name in sys.modules)
        marker.with_suffix(".loaded").write_text(",".join(loaded))

    return trainable


def test_a_trial_whose_worker_is_killed_is_retried_and_resumes_its_run(tmp_path):
    settings = Settings(home=tmp_path)
    marker = tmp_path / "killed-once"
    result = run_tune(
        TuneRequest(BASE, "logistic", trials=3, concurrency=1, prune=False),
        settings,
        progress=lambda _: None,
        trainable=_killed_once(marker),
    )
    killed_pid = marker.read_text()
    assert result.counts == {"complete": 3}
    client = mlflow.MlflowClient(settings.resolved_tracking_uri)
    children = list(_children(client, result.parent_run_id).values())
    assert len(children) == 3
    (retried,) = [r for r in children if r.data.tags[trials.ATTEMPTS_TAG] == "2"]
    assert retried.data.tags[trials.TRIAL_STATE_TAG] == "complete"
    assert retried.info.status == "FINISHED"
    assert retried.data.tags[runs.OWNER_PID_TAG] != killed_pid
    assert not psutil.pid_exists(int(killed_pid)) or (
        psutil.Process(int(killed_pid)).status() == psutil.STATUS_ZOMBIE
    )
    assert marker.with_suffix(".loaded").read_text() == "", "a trial worker loaded a heavy module"


def _finished_trials(db: Path) -> int:
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as connection:
            query = "SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'"
            return int(connection.execute(query).fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_tune_whose_driver_is_killed_resumes_without_losing_a_trial(
    tmp_path, monkeypatch, mlflow_schema
):
    """`mlpkg tune` (its own embedded Ray) is SIGKILLed after its first complete trial.

    A LightGBM trial (100 trees, no early stop, 3,000 candles) takes a second or two, so the
    kill lands while trials remain: the resume then runs them, one at a time, on our Ray.
    """
    env = {**subprocess_env(tmp_path, "MLFLOW_", "RAY_"), **RAY_TEST_ENV}
    seed_store(Settings(home=tmp_path), mlflow_schema)  # the CLI skips MLflow's migrations
    options = ["--pair", "BTC", "--family", "lightgbm"]
    command = [
        MLPKG_CLI,
        "tune",
        *options,
        "--trials",
        "3",
        "--concurrency",
        "1",
        "--no-prune",
        "--max-rows",
        "3000",
        "--n-folds",
        "3",
        "--lightgbm-n-estimators",
        "100",
        "--lightgbm-patience",
        "100",
    ]
    output = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    db = tmp_path / "mlruns" / "optuna.db"
    try:
        poll_until(
            lambda: _finished_trials(db) >= 1 or driver.poll() is not None,
            timeout=240,
            what="a first complete trial",
            every=0.25,
        )
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
    finally:
        survivors = kill_group(driver.pid)  # SIGKILL: the driver and every Ray process it started
        output.close()
    assert survivors == []
    storage = studies.open_storage(f"sqlite:///{db}")
    (summary,) = optuna.get_all_study_summaries(storage, include_best_trial=False)
    before = optuna.load_study(study_name=summary.study_name, storage=storage).trials
    kept = {t.number: t.value for t in before if t.state == TrialState.COMPLETE}
    assert 1 <= len(kept) < 3
    in_flight = [t.number for t in before if t.state == TrialState.RUNNING]

    for key in [k for k in os.environ if k.startswith("MLPKG_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLPKG_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert cli.main(["tune", "--resume", "--no-prune", "--concurrency", "1", *options]) == 0
    finally:
        get_settings.cache_clear()

    after = {
        t.number: t
        for t in optuna.load_study(study_name=summary.study_name, storage=storage).trials
    }
    assert {n: after[n].value for n in kept} == kept, "completed trials are kept as they were"
    assert sum(t.state == TrialState.COMPLETE for t in after.values()) == 3
    for number in in_flight:
        assert after[number].state == TrialState.FAIL
        assert after[number].user_attrs[studies.INTERRUPTED_ATTR] is True
    record = studies.StudyRecord.from_attrs(summary.study_name, summary.user_attrs)
    client = mlflow.MlflowClient(Settings(home=tmp_path).resolved_tracking_uri)
    parent = client.get_run(record.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert runs.ORPHAN_NOTE_TAG in parent.data.tags, "the next command marked the dead driver's run"
    children = _children(client, record.parent_run_id)
    states = {
        int(r.data.tags[trials.TRIAL_NUMBER_TAG]): r.data.tags[trials.TRIAL_STATE_TAG]
        for r in children.values()
    }
    assert sorted(n for n, state in states.items() if state == "complete") == sorted(
        n for n, t in after.items() if t.state == TrialState.COMPLETE
    )
    others = {n: state for n, state in states.items() if state != "complete"}
    assert set(others.values()) <= {"interrupted"} and set(others) <= set(in_flight)


@pytest.mark.notebook
def test_the_tune_notebook_joins_a_running_cluster_and_logs_its_trials(
    tmp_path, monkeypatch, mlflow_schema
):
    import papermill
    import ray

    from mlpkg.pipelines.batch import choose_kernel

    for key in [k for k in os.environ if k.startswith(("MLPKG_", "MLFLOW_", "RAY_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLPKG_HOME", str(tmp_path))
    seed_store(Settings(home=tmp_path), mlflow_schema)  # the kernel skips MLflow's migrations
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # joining our token-authenticated cluster
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "40-tune.ipynb"
    output = tmp_path / "40-tune.out.ipynb"
    address = ray.get_runtime_context().gcs_address
    papermill.execute_notebook(
        str(notebook),
        str(output),
        kernel_name=choose_kernel(),
        cwd=str(tmp_path),
        progress_bar=False,
        parameters={
            "pair": "btc",
            "family": "logistic",
            "trials": 2,
            "concurrency": 1,
            "address": address,
            "max_rows": 1500,
            "n_folds": 2,
        },
    )
    client = mlflow.MlflowClient(Settings(home=tmp_path).resolved_tracking_uri)
    experiment = client.get_experiment_by_name("mlpkg/BTC")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.kind = 'tune'")
    assert parent.info.status == "FINISHED"
    assert len(_children(client, parent.info.run_id)) == 2
    executed = nbformat.read(output, as_version=4)
    outputs = [o for cell in executed.cells for o in cell.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plots are displayed"
    assert any(f"--params-from {parent.info.run_id}" in o.get("text", "") for o in outputs)
    assert ray.is_initialized(), "the notebook only disconnected from the joined cluster"
