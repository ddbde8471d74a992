"""One notebook run of the batch: execute it with papermill inside its own MLflow run.

Shared by the local runner (``mlpkg.pipelines.batch``) and the Ray runner
(``mlpkg.pipelines.batch_ray``), which import it; neither imports the other's internals.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import papermill
from pydantic import SecretStr

from mlpkg.config import Settings
from mlpkg.progress import ProgressEvent
from mlpkg.tracking import runs

Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class NotebookResult:
    """The outcome of one notebook run for one pair."""

    pair: str
    notebook: str
    status: Status
    run_id: str
    seconds: float
    error: str
    output: Path

    @property
    def ok(self) -> bool:
        """Whether the notebook ran to the end."""
        return self.status == "ok"


def kind_of(notebook: str) -> str:
    """Return the run kind of a notebook name (``10-train-pair`` -> ``train``)."""
    match = re.match(r"^\d+-([a-z]+)", notebook)
    return match.group(1) if match else notebook


def kernel_environment(settings: Settings) -> dict[str, str]:
    """Return the ``MLPKG_*`` (and MLflow) variables that give a kernel the same settings."""
    env = {
        "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
        "MLPKG_TRACKING_URI": settings.resolved_tracking_uri,
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    for name, value in settings:
        if name == "tracking_uri" or value is None or isinstance(value, SecretStr):
            continue
        key = f"MLPKG_{name.upper()}"
        if isinstance(value, dict):  # MLPKG_CALENDARS: "SPY=XNYS EURUSD=24/5"
            env[key] = " ".join(f"{k}={v}" for k, v in value.items())
        else:
            env[key] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    env["MLPKG_HOME"] = str(settings.home.resolve())
    return env


@contextmanager
def patched_environ(values: Mapping[str, str], remove: Sequence[str] = ()) -> Iterator[None]:
    """Set (and remove) environment variables for the duration of the block, then restore."""
    saved = {key: os.environ.get(key) for key in [*values, *remove]}
    os.environ.update(values)
    for key in remove:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def describe_error(exc: BaseException) -> str:
    """Return the first line of an exception, e.g. ``ConfigError: Invalid run parameters: ...``."""
    if isinstance(exc, papermill.PapermillExecutionError):
        first = (str(exc.evalue).strip().splitlines() or [""])[0]
        return f"{exc.ename}: {first} (at In [{exc.exec_count}])"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


@dataclass(frozen=True)
class NotebookJob:
    """One notebook execution of the batch."""

    pair: str
    name: str
    path: Path
    output: Path
    parameters: Mapping[str, Any]
    kernel: str
    cwd: Path


def execute_notebook(job: NotebookJob, run_id: str) -> BaseException | None:
    """Run papermill; return the exception instead of raising it (the notebook is kept)."""
    job.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(job.path),
            str(job.output),
            parameters={**job.parameters, "pair": job.pair, "run_id": run_id},
            kernel_name=job.kernel,
            cwd=str(job.cwd),
            progress_bar=False,
            log_output=False,
        )
    except Exception as exc:  # one notebook failing must not stop the batch
        return exc
    return None


def run_job(job: NotebookJob, settings: Settings) -> NotebookResult:
    """Open the run, execute the notebook, log it and set the run's final status."""
    tags = {"kind": kind_of(job.name), "notebook": job.name, "runner": "batch"}
    started = time.perf_counter()
    with runs.pair_run(
        job.pair, run_name=f"{kind_of(job.name)}-{job.pair}", tags=tags, settings=settings
    ) as run:
        run_id = str(run.info.run_id)
        exc = execute_notebook(job, run_id)
        if job.output.is_file():
            runs.log_notebook(job.output, run_id)
        error = describe_error(exc) if exc is not None else ""
        if exc is not None:
            runs.set_tags({"error": error[:4000]})
            runs.log_text(str(exc), "error.txt")
        runs.end_run("FAILED" if exc is not None else "FINISHED")
    status: Status = "failed" if exc is not None else "ok"
    return NotebookResult(
        job.pair, job.name, status, run_id, time.perf_counter() - started, error, job.output
    )


def notebook_event(prefix: str, result: NotebookResult, done: int, total: int) -> ProgressEvent:
    """The ``notebook`` event of a finished notebook (``done`` of ``total`` in the batch)."""
    outcome = "ok" if result.ok else f"FAILED ({result.error})"
    return ProgressEvent(
        "notebook", f"{prefix} ... {outcome} in {result.seconds:.0f} s", done, total
    )
