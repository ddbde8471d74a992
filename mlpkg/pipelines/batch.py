"""Batch retraining: run the parameterised notebooks per pair with papermill, one MLflow run each.

For every (pair, notebook) the runner opens a run in the pair's experiment (tags ``kind`` and
``notebook``), executes the notebook with ``pair`` + ``run_id`` + the extra parameters into
``<reports_dir>/executed/<PAIR>/<notebook>.ipynb`` and logs that executed copy to the run, failed
ones included (papermill saves the partial notebook with the error before raising).

Run hand-off: the notebook kernel is another process. It sees the same MLflow store because the
runner exports the settings as ``MLPKG_*`` variables (plus ``MLFLOW_TRACKING_URI``) while
papermill starts the kernel, and it resumes the run with ``mlflow.start_run(run_id=...)``, logs
params, metrics, plots and the model, and ends it. The runner then logs the executed notebook
and sets the final status itself (FINISHED, or FAILED with an ``error`` tag and ``error.txt``);
ending a run only changes its status and end time, so nothing the kernel logged is overwritten.
The environment is changed for the duration of :func:`run_batch` only (not thread-safe).
"""

from __future__ import annotations

import logging
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import papermill

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.errors import ConfigError
from mlpkg.pipelines.notebook_run import (
    NotebookJob,
    NotebookResult,
    kernel_environment,
    notebook_event,
    patched_environ,
    run_job,
)
from mlpkg.progress import Progress, ProgressEvent, stage

log = logging.getLogger(__name__)

Executor = Literal["local", "ray"]
DEFAULT_NOTEBOOKS: tuple[str, ...] = ("10-train-pair", "20-evaluate-pair")
KERNEL_NAME = "mlpkg"
FALLBACK_KERNEL_NAME = "python3"
RESERVED_PARAMS = ("pair", "run_id")
_SOURCE_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
INSTALLED_NOTEBOOKS = Path("share", "mlpkg", "notebooks")
"""Where a wheel puts the notebooks, under the installation's data prefix (pyproject data-files)."""


@dataclass(frozen=True)
class BatchSummary:
    """Every (pair, notebook) result of a batch, in execution order."""

    results: tuple[NotebookResult, ...]

    @property
    def ok(self) -> bool:
        """True when every notebook of every pair succeeded."""
        return all(result.ok for result in self.results)

    @property
    def failures(self) -> tuple[NotebookResult, ...]:
        """The results that failed."""
        return tuple(result for result in self.results if not result.ok)

    @property
    def text(self) -> str:
        """A table of the results followed by one ``failed: PAIR/notebook: why`` line each."""
        width = max([len("notebook"), *(len(r.notebook) for r in self.results)])
        lines = [f"{'pair':<8}{'notebook':<{width + 2}}{'status':<8}{'seconds':>8}  run_id"]
        lines += [
            f"{r.pair:<8}{r.notebook:<{width + 2}}{r.status:<8}{r.seconds:>8.1f}  {r.run_id}"
            for r in self.results
        ]
        lines += [f"failed: {r.pair}/{r.notebook}: {r.error}" for r in self.failures]
        done = len(self.results) - len(self.failures)
        lines.append(f"{done}/{len(self.results)} notebooks succeeded.")
        return "\n".join(lines)


def choose_kernel() -> str:
    """Return ``mlpkg`` when that kernelspec is installed, else ``python3`` (logged)."""
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL_NAME in KernelSpecManager().find_kernel_specs():
        return KERNEL_NAME
    log.warning(
        "Jupyter kernel %r is not installed; using %r. Register it with `make install` or "
        "`python -m ipykernel install --sys-prefix --name mlpkg`.",
        KERNEL_NAME,
        FALLBACK_KERNEL_NAME,
    )
    return FALLBACK_KERNEL_NAME


def installed_notebook_dirs() -> list[Path]:
    """The notebook folders of an installed mlpkg: ``<prefix>/share/mlpkg/notebooks``.

    The prefix is the environment's data path (``sys.prefix`` in a virtual environment), then
    the user scheme's (``pip install --user``).
    """
    prefixes = (
        sysconfig.get_path("data"),
        sysconfig.get_path("data", sysconfig.get_preferred_scheme("user")),
    )
    return [Path(prefix) / INSTALLED_NOTEBOOKS for prefix in dict.fromkeys(prefixes)]


def notebook_path(name: str, settings: Settings) -> Path:
    """Find a notebook: ``<home>/notebooks``, else the source tree's, else the installed copy.

    Raises:
        ConfigError: if it does not exist or does not declare ``pair`` and ``run_id`` parameters.
    """
    folders = [settings.resolve(Path("notebooks")), _SOURCE_NOTEBOOKS, *installed_notebook_dirs()]
    candidates = [folder / f"{name}.ipynb" for folder in folders]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ConfigError(
            f"Notebook {name!r} not found (looked for {', '.join(map(str, candidates))}); "
            f"use one of {', '.join(DEFAULT_NOTEBOOKS)}."
        )
    try:
        declared = papermill.inspect_notebook(str(path))
    except ValueError as exc:  # no kernelspec, so papermill cannot tell the language
        raise ConfigError(f"Notebook {name!r} cannot be inspected: {exc}") from exc
    missing = [p for p in RESERVED_PARAMS if p not in declared]
    if missing:
        raise ConfigError(
            f"Notebook {name!r} has no parameter(s) {', '.join(missing)}: the batch runner "
            "needs a `parameters` cell declaring pair and run_id."
        )
    return path


def jsonable_params(extra_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate extra run parameters and make them papermill-friendly (tuples become lists).

    Raises:
        ConfigError: on ``pair``/``run_id`` (the runner sets them), unknown names or bad values.
    """
    extra = dict(extra_params or {})
    reserved = [name for name in RESERVED_PARAMS if name in extra]
    if reserved:
        raise ConfigError(
            f"extra_params must not set {', '.join(reserved)}: pass the pairs to run_batch and "
            "let the runner open the runs."
        )
    RunConfig.from_flat(**extra)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in extra.items()}


def _plan(
    pairs: Sequence[str], notebooks: Sequence[str], params: Mapping[str, Any], settings: Settings
) -> list[NotebookJob]:
    """Validate pairs and notebooks up front and list the executions, pair by pair."""
    names = list(dict.fromkeys(settings.check_pair(p) for p in pairs))
    if not names or not notebooks:
        raise ConfigError("run_batch needs at least one pair and one notebook.")
    paths = {name: notebook_path(name, settings) for name in notebooks}
    kernel = choose_kernel()
    executed = settings.resolve(settings.reports_dir) / "executed"
    return [
        NotebookJob(
            pair,
            name,
            paths[name],
            executed / pair / f"{name}.ipynb",
            params,
            kernel,
            settings.home.resolve(),
        )
        for pair in names
        for name in notebooks
    ]


def _log_progress(event: ProgressEvent) -> None:
    log.info("%s", event.text)


def run_batch(
    pairs: Sequence[str],
    *,
    notebooks: Sequence[str] = DEFAULT_NOTEBOOKS,
    extra_params: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    executor: Executor = "local",
    address: str | None = None,
) -> BatchSummary:
    """Run each notebook for each pair with papermill, one MLflow run per execution.

    The ``local`` executor runs the pairs one after another in this process; ``ray`` runs each
    pair as a Ray task (``mlpkg.pipelines.batch_ray``: an embedded Ray on this machine, or the
    cluster at ``address`` / ``RAY_ADDRESS``), with the same results, summary and progress
    lines. Either way one pair failing never stops the others.

    Args:
        pairs: Pair names (normalised, and checked against ``settings.pairs``).
        notebooks: Notebook names under ``notebooks/`` (without ``.ipynb``), run in order.
        extra_params: Run parameters for every pair (flattened RunConfig names, no ``pair``).
        settings: Machine settings (default ``get_settings()``); exported to the kernels.
        progress: Called with one line per notebook (default: the module logger).
        executor: ``local`` (default) or ``ray``.
        address: With ``ray``: the cluster to join (default ``RAY_ADDRESS``, else local Ray).

    Returns:
        The results; ``summary.ok`` is False when any notebook failed.

    Raises:
        ConfigError: on bad parameters or a missing notebook (before any run is opened).
        UnknownPairError: if a pair is not configured.
    """
    settings = settings or get_settings()
    report = progress or _log_progress
    jobs = _plan(pairs, notebooks, jsonable_params(extra_params), settings)
    if executor == "ray":
        from mlpkg.pipelines.batch_ray import run_jobs_on_ray

        return BatchSummary(run_jobs_on_ray(jobs, settings, report, address=address))
    n_pairs = len({job.pair for job in jobs})
    pair_numbers = {pair: i for i, pair in enumerate(dict.fromkeys(j.pair for j in jobs), 1)}
    results: list[NotebookResult] = []
    with patched_environ(kernel_environment(settings), remove=("MLFLOW_RUN_ID",)):
        for job in jobs:
            prefix = f"[{pair_numbers[job.pair]}/{n_pairs}] {job.pair} {job.name}"
            report(stage(f"{prefix} ..."))
            result = run_job(job, settings)
            results.append(result)
            report(notebook_event(prefix, result, len(results), len(jobs)))
    return BatchSummary(tuple(results))
