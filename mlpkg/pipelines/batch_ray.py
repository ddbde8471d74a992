"""The Ray executor of the batch runner: each pair's notebooks run as one Ray task.

``run_batch(..., executor="ray")`` plans the jobs exactly like the local executor, then hands
each pair's notebooks (in order) to a Ray task on an embedded Ray or the cluster at
``address``. A task does what the local loop does, in its worker: export the settings to the
kernel's environment (plus thread caps for the task's CPUs), open the pair's run, papermill
the notebook, log it, set the status. A notebook failing is a result, not an exception, so it
never stops another pair; a task whose worker dies becomes one failed result per notebook of
that pair, and its runs are marked KILLED (``mark_orphaned_runs``). The results come back in
the local executor's order, so the summary and the exit code are the same.

On a multi-node cluster every node needs mlpkg installed, the Jupyter kernel registered and
``MLPKG_TRACKING_URI`` pointing at an MLflow tracking server; executed notebooks are written
under the reports directory of the node that ran them (and logged to the run either way).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mlpkg.config import Settings
from mlpkg.pipelines.cluster import THREAD_ENV, ray_session
from mlpkg.pipelines.notebook_run import (
    NotebookJob,
    NotebookResult,
    describe_error,
    kernel_environment,
    notebook_event,
    patched_environ,
    run_job,
)
from mlpkg.progress import Progress, stage
from mlpkg.tracking.runs import ensure_experiment, mark_orphaned_runs

log = logging.getLogger(__name__)


def run_pair_jobs(
    jobs: Sequence[NotebookJob], settings: Settings, cpus: int
) -> list[NotebookResult]:
    """Run one pair's notebooks in order (the body of a Ray task; also callable directly)."""
    env = {**kernel_environment(settings), **dict.fromkeys(THREAD_ENV, str(cpus))}
    with patched_environ(env, remove=("MLFLOW_RUN_ID",)):
        return [run_job(job, settings) for job in jobs]


def _crashed(jobs: Sequence[NotebookJob], exc: BaseException) -> list[NotebookResult]:
    cause = getattr(exc, "cause", None)  # a RayTaskError wraps what the task raised
    error = describe_error(cause if isinstance(cause, BaseException) else exc)
    return [NotebookResult(j.pair, j.name, "failed", "", 0.0, error, j.output) for j in jobs]


def run_jobs_on_ray(
    jobs: Sequence[NotebookJob],
    settings: Settings,
    progress: Progress,
    *,
    address: str | None = None,
    cpus_per_pair: int = 1,
) -> tuple[NotebookResult, ...]:
    """Run the planned jobs as one Ray task per pair; return the results in plan order.

    Raises:
        ClusterUnavailableError: if the Ray cluster at ``address`` cannot be joined.
    """
    import ray

    by_pair: dict[str, list[NotebookJob]] = {}
    for job in jobs:
        by_pair.setdefault(job.pair, []).append(job)
    numbers = {pair: i for i, pair in enumerate(by_pair, 1)}
    finished: dict[str, list[NotebookResult]] = {}
    crashed = False
    for pair in by_pair:  # create the store and experiments once, not in racing workers
        ensure_experiment(pair, settings)
    with ray_session(address) as cluster:
        task = ray.remote(num_cpus=cpus_per_pair, max_retries=0)(run_pair_jobs)
        refs: dict[Any, str] = {}
        for pair, pair_jobs in by_pair.items():
            refs[task.remote(pair_jobs, settings, cpus_per_pair)] = pair
            for job in pair_jobs:
                progress(
                    stage(f"[{numbers[pair]}/{len(by_pair)}] {pair} {job.name} ... (Ray task)")
                )
        log.info("batch: %d pair(s) on %d Ray CPU(s)", len(by_pair), cluster.cpus)
        pending, count = list(refs), 0
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            pair = refs[done[0]]
            try:
                finished[pair] = list(ray.get(done[0]))
            except Exception as exc:  # the worker died or the task could not run
                crashed = True
                finished[pair] = _crashed(by_pair[pair], exc)
            for result in finished[pair]:
                count += 1
                prefix = f"[{numbers[pair]}/{len(by_pair)}] {pair} {result.notebook}"
                progress(notebook_event(prefix, result, count, len(jobs)))
    if crashed:
        mark_orphaned_runs(settings)
    return tuple(result for pair in by_pair for result in finished[pair])
