"""The training worker's triggers, cooldown, cancel and periodic schedule (no training runs).

The worker thread is never started here: jobs stay queued, so the rules are checked alone.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from mlpkg.config import RunConfig, Settings
from mlpkg.errors import ConfigError
from mlpkg.progress import ProgressEvent
from mlpkg.serving.worker import PeriodicSchedule, TrainingWorker, served_params
from mlpkg.storage import JobStatus, JobStore

T0 = pd.Timestamp("2019-08-01", tz="UTC")


class FakeClock:
    """A service clock the test moves by hand."""

    mode = "replay"

    def __init__(self) -> None:
        self.at = T0

    def now(self) -> pd.Timestamp:
        return self.at

    def wall_seconds(self, span: pd.Timedelta) -> float:
        return span.total_seconds()


@pytest.fixture
def jobs(tmp_path: Path):
    with JobStore(tmp_path / "jobs.db") as store:
        yield store


def make_worker(jobs: JobStore, clock: FakeClock, **settings) -> TrainingWorker:
    served = RunConfig.from_flat(pair="BTC", lstm_epochs=3, data_end="2019-07-01", max_rows=900)
    return TrainingWorker(
        Settings(pairs=["BTC", "ETH"], **settings),
        jobs,
        lambda pair: None,
        clock=clock,
        served_config=lambda pair: served if pair == "BTC" else None,
        data_end=lambda pair: clock.now() - pd.Timedelta(hours=1),
    )


def test_served_params_keep_the_recipe_and_drop_the_data_window():
    config = RunConfig.from_flat(
        pair="ETH", lstm_epochs=3, models="lstm,gru", data_end="2019-07-01", source="file"
    )
    assert served_params(config) == {"lstm_epochs": 3, "models": ["lstm", "gru"]}
    assert served_params(None) == {}


def test_periodic_schedule_is_due_once_per_period():
    schedule = PeriodicSchedule(every_s=3600.0, enabled=True)
    assert schedule.due(("BTC",), T0) == []  # first due one period after it started
    assert schedule.due(("BTC",), T0 + pd.Timedelta(minutes=59)) == []
    assert schedule.due(("BTC",), T0 + pd.Timedelta(hours=1)) == ["BTC"]
    assert schedule.due(("BTC",), T0 + pd.Timedelta(hours=1, minutes=30)) == []
    assert schedule.next_due["BTC"] == T0 + pd.Timedelta(hours=2)
    assert PeriodicSchedule(every_s=None, enabled=False).due(("BTC",), T0) == []


def test_an_automatic_retrain_copies_the_served_recipe_and_stops_at_the_clock(jobs):
    clock = FakeClock()
    worker = make_worker(jobs, clock)
    outcome = worker.submit_automatic("BTC", "periodic")
    assert outcome.queued
    job = jobs.get(outcome.job_id)
    assert (job.trigger, job.status) == ("periodic", JobStatus.QUEUED)
    assert job.params["lstm_epochs"] == 3 and job.params["max_rows"] == 900
    assert job.params["data_end"] == "2019-07-31T23:00:00+00:00"  # the last closed candle
    assert job.params["source"] == "shipped"


def test_a_busy_or_cooling_pair_is_skipped_and_manual_jobs_are_not(jobs):
    clock = FakeClock()
    worker = make_worker(jobs, clock, retrain_cooldown="30m")
    first = worker.submit_automatic("BTC", "drift")
    busy = worker.submit_automatic("BTC", "periodic")
    assert first.queued and not busy.queued and "already queued" in busy.reason
    manual, _ = worker.submit("BTC", {"lstm_epochs": 1})  # an operator's job is always queued
    assert jobs.get(manual).trigger == "manual"
    for job_id in (first.job_id, manual):
        worker.cancel(job_id)
    worker._cool("BTC")  # as after a finished job
    cooling = worker.submit_automatic("BTC", "periodic")
    assert not cooling.queued and cooling.reason.startswith("cooldown")
    assert worker.cooldowns() == {"BTC": T0 + pd.Timedelta(minutes=30)}
    clock.at += pd.Timedelta(minutes=31)
    assert worker.submit_automatic("BTC", "periodic").queued


def test_tick_and_run_now_queue_periodic_jobs_and_remember_outcomes(jobs):
    clock = FakeClock()
    worker = make_worker(jobs, clock, retrain_every="1h")
    assert worker.tick() == []
    clock.at += pd.Timedelta(hours=1)
    queued = worker.tick()
    assert [o.pair for o in queued if o.queued] == ["BTC", "ETH"]
    again = worker.run_now()
    assert not any(o.queued for o in again)  # both pairs already have a job queued
    assert worker.periodic.last["ETH"] == again[1] and worker.periodic.last_run_at == clock.at
    assert worker.queued == 2


def test_periodic_retraining_can_be_toggled_but_needs_a_period(jobs):
    worker = make_worker(jobs, FakeClock())
    assert not worker.periodic.enabled
    with pytest.raises(ConfigError, match="MLPKG_RETRAIN_EVERY"):
        worker.set_periodic(True)
    schedule = worker.set_periodic(True, 7200.0)
    assert schedule.enabled and schedule.every_s == 7200.0
    assert not worker.set_periodic(False).enabled


def test_cancelling_a_queued_job_skips_it(jobs):
    worker = make_worker(jobs, FakeClock())
    job_id, _ = worker.submit("ETH", {})
    cancelled = worker.cancel(job_id)
    assert cancelled.status == JobStatus.CANCELLED and "before it started" in cancelled.error
    assert jobs.next_queued() is None  # the runner never picks it up
    worker._execute(jobs.get(job_id))  # and would do nothing with it
    assert jobs.get(job_id).status == JobStatus.CANCELLED


def test_under_replay_no_retrain_is_queued_again_without_a_new_candle(jobs):
    clock = FakeClock()
    worker = make_worker(jobs, clock, retrain_cooldown="off")
    first = worker.submit_automatic("BTC", "periodic")
    worker.cancel(first.job_id)
    worker._cooldown_until.clear()
    same = worker.submit_automatic("BTC", "periodic")  # the replay ended: same data end
    assert not same.queued and same.reason.startswith("no new candle")
    clock.at += pd.Timedelta(hours=1)
    assert worker.submit_automatic("BTC", "periodic").queued


def test_a_periodic_toggle_made_through_another_worker_reaches_the_leader(jobs):
    clock = FakeClock()
    leader, other = make_worker(jobs, clock), make_worker(jobs, clock)
    other.set_periodic(True, 3600.0)  # a request answered by a non-leader worker
    assert not leader.periodic.enabled  # not yet seen
    assert leader.tick() == []  # adopts the toggle; first due one period later
    assert leader.periodic.enabled and leader.periodic.every_s == 3600.0
    clock.at += pd.Timedelta(hours=1)
    assert [o.pair for o in leader.tick() if o.queued] == ["BTC", "ETH"]
    other.set_periodic(False)
    leader.sync_periodic()
    assert not leader.periodic.enabled


IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('ready', flush=True); time.sleep(120)"
)


def test_a_job_process_that_ignores_sigterm_is_killed_after_the_grace_period(
    jobs, monkeypatch, tmp_path
):
    import subprocess
    import sys

    import mlpkg.serving.worker as worker_module

    monkeypatch.setattr(worker_module, "CANCEL_GRACE_S", 0.5)
    worker = make_worker(jobs, FakeClock())
    marked: list[str] = []
    monkeypatch.setattr(worker, "mark_orphans", lambda: marked.append("orphans"))
    job_id, _ = worker.submit("ETH", {})
    jobs.start(job_id)
    jobs.set_progress(job_id, ProgressEvent("fit", "fold 1/2: lstm", done=1, total=2))
    process = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"ready"
    worker.cancel(job_id)  # a cancel request recorded on the row (any worker may do it)
    code = worker._wait(job_id, process)
    assert code == -9  # SIGTERM was ignored; SIGKILL ended it
    worker._settle(jobs.get(job_id), code)
    job = jobs.get(job_id)
    assert job.status == JobStatus.CANCELLED
    assert "signal 9" in job.error and "fold 1/2: lstm" in job.error
    assert marked == ["orphans"]  # its MLflow run is marked KILLED


def test_a_runner_stopped_before_it_started_never_starts(jobs):
    """A server stopped while it was becoming the leader closes the job store next."""
    worker = make_worker(jobs, FakeClock())
    worker.stop()
    worker.start()

    assert not worker.started and not worker.alive


def test_stop_waits_for_a_start_in_progress_and_ends_its_runner(jobs, monkeypatch):
    worker = make_worker(jobs, FakeClock())
    recovering, release = threading.Event(), threading.Event()
    real_recover = jobs.recover

    def slow_recover():
        recovering.set()
        assert release.wait(10)
        return real_recover()

    monkeypatch.setattr(jobs, "recover", slow_recover)
    before = set(threading.enumerate())
    starter = threading.Thread(target=worker.start)
    starter.start()
    assert recovering.wait(10)
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive(), "stop returned while start was still starting the runner"
    release.set()
    starter.join(10)
    stopper.join(10)

    assert not stopper.is_alive() and not worker.alive
    assert not [t for t in set(threading.enumerate()) - before if t.name == "mlpkg-training"]
