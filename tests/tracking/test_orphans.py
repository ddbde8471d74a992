"""Orphaned runs: a run whose process died is marked KILLED by the next mlpkg command."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import psutil
import pytest
from support import MLPKG_CLI, free_port, poll_until, seed_store, subprocess_env

from mlpkg import cli
from mlpkg.config import Settings, get_settings
from mlpkg.tracking import runs


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    """One store for the module (creating a SQLite MLflow store takes seconds)."""
    return Settings(home=tmp_path_factory.mktemp("orphans"), pairs=["BTC", "ETH"])


def _client(settings: Settings) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=settings.resolved_tracking_uri)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _run_with_owner(settings: Settings, tags: dict[str, str]) -> str:
    experiment = runs.ensure_experiment("BTC", settings)
    return str(_client(settings).create_run(experiment, tags=tags).info.run_id)


def test_every_new_pair_run_names_its_owner(settings):
    with runs.pair_run("BTC", settings=settings) as run:
        tags = _client(settings).get_run(run.info.run_id).data.tags
    assert tags[runs.OWNER_HOST_TAG] == socket.gethostname()
    assert tags[runs.OWNER_PID_TAG] == str(os.getpid())
    assert float(tags[runs.OWNER_STARTED_TAG]) == pytest.approx(psutil.Process().create_time())
    assert runs.owner_alive(tags) is True


def test_owner_alive_tells_live_dead_reused_and_foreign_processes():
    assert runs.owner_alive(runs.owner_tags()) is True
    dead = {**runs.owner_tags(), runs.OWNER_PID_TAG: str(_dead_pid())}
    assert runs.owner_alive(dead) is False
    reused = {**runs.owner_tags(), runs.OWNER_STARTED_TAG: "12345.000"}
    assert runs.owner_alive(reused) is False, "a pid now used by another process is gone"
    assert runs.owner_alive({**runs.owner_tags(), runs.OWNER_HOST_TAG: "elsewhere"}) is None
    assert runs.owner_alive({}) is None


def test_only_running_runs_of_dead_owners_on_this_host_are_marked(settings):
    dead = {**runs.owner_tags(), runs.OWNER_PID_TAG: str(_dead_pid())}
    orphan = _run_with_owner(settings, dead)
    alive = _run_with_owner(settings, runs.owner_tags())
    foreign = _run_with_owner(settings, {**dead, runs.OWNER_HOST_TAG: "other-host"})
    legacy = _run_with_owner(settings, {})
    finished = _run_with_owner(settings, dead)
    client = _client(settings)
    client.set_terminated(finished, "FINISHED")
    assert runs.mark_orphaned_runs(settings) == [orphan]
    status = {r: client.get_run(r).info.status for r in (orphan, alive, foreign, legacy, finished)}
    assert status == {
        orphan: "KILLED",
        alive: "RUNNING",
        foreign: "RUNNING",
        legacy: "RUNNING",
        finished: "FINISHED",
    }
    note = client.get_run(orphan).data.tags[runs.ORPHAN_NOTE_TAG]
    assert dead[runs.OWNER_PID_TAG] in note and "killed or crashed" in note
    assert runs.mark_orphaned_runs(settings) == []


def test_resuming_a_killed_run_takes_it_over_joining_a_live_one_does_not(settings):
    dead = {**runs.owner_tags(), runs.OWNER_PID_TAG: str(_dead_pid())}
    killed = _run_with_owner(settings, dead)
    _client(settings).set_terminated(killed, "KILLED")
    with runs.pair_run("BTC", run_id=killed, settings=settings):
        pass
    assert _client(settings).get_run(killed).data.tags[runs.OWNER_PID_TAG] == str(os.getpid())
    other = {**runs.owner_tags(os.getppid())}
    joined = _run_with_owner(settings, other)
    with runs.pair_run("BTC", run_id=joined, settings=settings):
        pass
    assert _client(settings).get_run(joined).data.tags[runs.OWNER_PID_TAG] == str(os.getppid())


def test_no_store_yet_means_nothing_to_mark_and_no_store_is_created(tmp_path):
    assert runs.mark_orphaned_runs(Settings(home=tmp_path)) == []
    assert not (tmp_path / "mlruns").exists()


def test_an_unreachable_tracking_server_is_reported_not_raised(tmp_path, caplog):
    settings = Settings(home=tmp_path, tracking_uri=f"http://127.0.0.1:{free_port()}")
    started = time.perf_counter()
    assert runs.mark_orphaned_runs(settings) == []
    assert time.perf_counter() - started < 30
    assert "Could not check" in caplog.text


def _running_run_ids(db: Path) -> list[str]:
    """RUNNING runs, read with sqlite3 (an MLflow client would race the schema creation)."""
    if not db.is_file():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as connection:
            rows = connection.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'")
            return [row[0] for row in rows]
    except sqlite3.Error:  # tables not created yet
        return []


@pytest.mark.slow
def test_a_sigkilled_mlpkg_train_is_marked_killed_by_the_next_command(
    tmp_path, monkeypatch, mlflow_schema
):
    env = subprocess_env(tmp_path, "MLFLOW_")
    seed_store(Settings(home=tmp_path), mlflow_schema)  # `mlpkg train` skips the migrations
    command = [
        MLPKG_CLI,
        "train",
        "--pair",
        "BTC",
        "--max-rows",
        "4000",
        "--lstm-epochs",
        "1",
    ]
    train = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    uri = Settings(home=tmp_path).resolved_tracking_uri
    db = tmp_path / "mlruns" / "mlflow.db"
    try:
        (run_id,) = poll_until(
            lambda: _running_run_ids(db), timeout=120, what="the train run to start", every=0.2
        )
        assert train.poll() is None, train.stderr.read().decode()[-2000:]
        train.send_signal(signal.SIGKILL)
        train.wait(timeout=30)
    finally:
        if train.poll() is None:
            os.killpg(train.pid, signal.SIGKILL)
    run = mlflow.MlflowClient(uri).get_run(run_id)
    assert run.data.tags[runs.OWNER_PID_TAG] == str(train.pid)
    assert run.info.status == "RUNNING"
    for key in [k for k in os.environ if k.startswith("MLPKG_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLPKG_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert cli.main(["promote", "--pair", "BTC", "--version", "99"]) == 2
    finally:
        get_settings.cache_clear()
    after = mlflow.MlflowClient(uri).get_run(run_id)
    assert after.info.status == "KILLED"
    assert f"process {train.pid}" in after.data.tags[runs.ORPHAN_NOTE_TAG]


def test_the_server_start_marks_orphans_killed_too(settings, tmp_path):
    from mlpkg.serving.state import ServingState

    dead = {**runs.owner_tags(), runs.OWNER_PID_TAG: str(_dead_pid())}
    orphan = _run_with_owner(settings, dead)
    serving = settings.model_copy(
        update={
            "storage_path": tmp_path / "predictions.db",
            "model_poll_s": 0,
            "live_scoring": False,
        }
    )
    state = ServingState(serving)
    try:
        state.open()
        state.lead()  # the process that takes the leader lease marks orphans
    finally:
        state.close()
    run = _client(settings).get_run(orphan)
    assert run.info.status == "KILLED"
    assert "ended without ending the run" in run.data.tags[runs.ORPHAN_NOTE_TAG]
