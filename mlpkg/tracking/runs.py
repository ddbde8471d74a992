"""MLflow runs: where they are stored, what each run logs (config, data, metrics, plots, model)."""

from __future__ import annotations

import io
import logging
import os
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.tracking.connection import configure_uri

if TYPE_CHECKING:  # matplotlib stays out of the prediction server's imports
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

PIP_REQUIREMENTS = (
    "mlpkg",
    "tensorflow-cpu==2.21.0",
    "keras==3.15.1",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scikit-learn==1.9.1",
    "mlflow==3.17.2",
)

MISSING = "RESOURCE_DOES_NOT_EXIST"
"""MLflow's error code for a run or artifact that does not exist (any other code is a failure)."""
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
"""MLflow 3's kind for classic model training (the UI's default for untagged is GenAI)."""


def configure_tracking(settings: Settings | None = None) -> str:
    """Point MLflow at the SQLite store under ``mlruns/`` and return the tracking URI.

    The URI is recorded in ``mlpkg.tracking.connection`` too (see ``configure_uri``: it also
    silences MLflow's artifact-download progress bars and its "View run ... at: <url>" lines).
    """
    return configure_uri(settings)  # this module imports mlflow, so it is pointed there at once


def experiment_name(pair: str) -> str:
    """Return the experiment that holds a pair's runs."""
    return f"mlpkg/{pair}"


def is_tracking_server(uri: str) -> bool:
    """Whether a tracking URI is an MLflow tracking server (``http(s)://``, ``databricks``)."""
    return uri.split(":", 1)[0].lower() in {"http", "https", "databricks"}


def ensure_experiment(pair: str, settings: Settings | None = None) -> str:
    """Create (once) the pair's experiment with artifacts under ``mlruns/artifacts``; return id.

    With a tracking server (``http(s)://``) the server chooses the artifact location, so
    processes on other machines (Ray workers, a second host) store artifacts where it says.
    The experiment is tagged ``mlflow.experimentKind=custom_model_development``, so MLflow 3's
    UI opens it on its runs (not on the GenAI traces overview).
    """
    settings = settings or get_settings()
    uri = configure_tracking(settings)
    name = experiment_name(pair)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:  # made before the tag existed
            mlflow.MlflowClient().set_experiment_tag(
                found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
            )
        return str(found.experiment_id)
    location = None if is_tracking_server(uri) else (settings.artifact_root / pair).as_uri()
    tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
    return str(mlflow.create_experiment(name, artifact_location=location, tags=tags))


@contextmanager
def pair_run(
    pair: str,
    *,
    run_name: str | None = None,
    run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Start (or resume, with ``run_id``) a run in the pair's experiment.

    A new run is tagged with the process that owns it (:func:`owner_tags`: host, pid, start
    time), so :func:`mark_orphaned_runs` can tell a live run from one whose process was killed.
    Resuming a run that is not RUNNING, or whose owner is gone, takes it over; joining a
    RUNNING run of a live process (a notebook kernel joining the batch runner's run) leaves the
    owner as it is.
    """
    experiment_id = ensure_experiment(pair, settings)
    all_tags = {"pair": pair, **(tags or {})}
    if run_id is not None:
        previous = mlflow.MlflowClient().get_run(run_id)
        if previous.info.status != "RUNNING" or owner_alive(previous.data.tags) is False:
            all_tags.update(owner_tags())
        with mlflow.start_run(run_id=run_id) as run:
            mlflow.set_tags(all_tags)
            yield run
        return
    all_tags.update(owner_tags())
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags) as run:
        yield run


OWNER_HOST_TAG = "mlpkg.host"
OWNER_PID_TAG = "mlpkg.pid"
OWNER_STARTED_TAG = "mlpkg.pid_started"
ORPHAN_NOTE_TAG = "mlpkg.orphan_note"


def owner_tags(pid: int | None = None) -> dict[str, str]:
    """Tags naming the process that owns a run: host name, pid and the process start time."""
    import psutil

    process = psutil.Process(pid)
    return {
        OWNER_HOST_TAG: socket.gethostname(),
        OWNER_PID_TAG: str(process.pid),
        OWNER_STARTED_TAG: f"{process.create_time():.3f}",
    }


def owner_alive(tags: Mapping[str, str]) -> bool | None:
    """Whether a run's owning process still runs (None: another host, or no owner tags).

    A pid that now belongs to a process started at another time counts as gone.
    """
    import psutil

    if tags.get(OWNER_HOST_TAG) != socket.gethostname() or OWNER_PID_TAG not in tags:
        return None
    try:
        process = psutil.Process(int(tags[OWNER_PID_TAG]))
        started = process.create_time()
        running = process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False
    recorded = tags.get(OWNER_STARTED_TAG)
    return running and (recorded is None or abs(float(recorded) - started) < 1.0)


def _local_store_missing(uri: str) -> bool:
    """True for a SQLite tracking URI whose file does not exist yet (nothing to look at)."""
    if not uri.startswith("sqlite:///"):
        return False
    return not Path(uri.removeprefix("sqlite:///")).is_file()


def _running_runs_of_this_host(client: mlflow.MlflowClient) -> list[Any]:
    experiments = [
        e.experiment_id for e in client.search_experiments() if e.name.startswith("mlpkg/")
    ]
    query = f"attributes.status = 'RUNNING' and tags.`{OWNER_HOST_TAG}` = '{socket.gethostname()}'"
    found: list[Any] = []
    token = None
    while experiments:
        page = client.search_runs(experiments, query, max_results=1000, page_token=token)
        found += list(page)
        token = page.token
        if not token:
            break
    return found


def mark_orphaned_runs(settings: Settings | None = None) -> list[str]:
    """Mark KILLED the RUNNING runs of this host whose owning process is gone; return their ids.

    A run killed with SIGKILL (or whose machine lost power) never ends, so MLflow shows it
    RUNNING for good. Every mlpkg run records its owner (:func:`owner_tags`); a RUNNING run
    whose owner ran on this host and no longer exists is set to KILLED with a
    ``mlpkg.orphan_note`` tag saying why. Runs of other hosts, and runs without owner tags
    (older ones), are left alone. Never raises: an unreachable store is logged and skipped.
    """
    settings = settings or get_settings()
    uri = settings.resolved_tracking_uri
    if _local_store_missing(uri):
        return []
    marked: list[str] = []
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    saved = {key: os.environ.get(key) for key in quick}
    os.environ.update({k: v for k, v in quick.items() if saved[k] is None})
    try:
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        for run in _running_runs_of_this_host(client):
            if owner_alive(run.data.tags) is not False:
                continue
            tags = run.data.tags
            note = (
                f"Marked KILLED by mlpkg (pid {os.getpid()}): its process {tags[OWNER_PID_TAG]} "
                f"on {tags[OWNER_HOST_TAG]} ended without ending the run (killed or crashed)."
            )
            client.set_tag(run.info.run_id, ORPHAN_NOTE_TAG, note)
            client.set_terminated(run.info.run_id, "KILLED")
            marked.append(str(run.info.run_id))
    except Exception as exc:  # the store may be down; this check must never stop a command
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("Could not check %s for orphaned runs: %s", uri, reason)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
    if marked:
        log.warning("Marked %d orphaned run(s) KILLED: %s", len(marked), ", ".join(marked))
    return marked


def log_run_config(config: RunConfig) -> None:
    """Log the resolved run config as flattened params and as ``config.json``."""
    flat = {
        k: ",".join(map(str, v)) if isinstance(v, tuple) else v for k, v in config.to_flat().items()
    }
    mlflow.log_params(flat)
    mlflow.log_dict(config.model_dump(mode="json"), "config.json")


def log_data_info(description: Mapping[str, Any], checksum: str) -> None:
    """Log the candles' checksum, date range and shape as params and ``data.json``."""
    mlflow.log_params(
        {
            "data_checksum": checksum,
            "data_first_candle": str(description.get("start")),
            "data_last_candle": str(description.get("end")),
            "data_rows": description.get("rows"),
        }
    )
    mlflow.log_dict(
        {**{k: str(v) for k, v in description.items()}, "sha256": checksum}, "data.json"
    )


def log_metrics(metrics: Mapping[str, float]) -> None:
    """Log finite metrics (NaN values are skipped with a debug message)."""
    finite = {k: float(v) for k, v in metrics.items() if pd.notna(v)}
    skipped = sorted(set(metrics) - set(finite))
    if skipped:
        log.debug("not logging NaN metrics: %s", skipped)
    mlflow.log_metrics(finite)


def log_figures(figures: Mapping[str, Figure]) -> None:
    """Log each figure as ``plots/<name>.png``."""
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}.png")


def log_frame(frame: pd.DataFrame, name: str) -> None:
    """Log a DataFrame as a CSV artifact ``<name>.csv``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.csv"
        frame.to_csv(path)
        mlflow.log_artifact(str(path))


def log_text(text: str, name: str) -> None:
    """Log a text artifact."""
    mlflow.log_text(text, name)


def log_notebook(path: Path, run_id: str) -> None:
    """Attach an executed notebook to a run under ``notebooks/``."""
    client = mlflow.MlflowClient()
    client.log_artifact(run_id, str(path), artifact_path="notebooks")


def is_missing(exc: BaseException) -> bool:
    """Whether an MLflow error says the run or artifact does not exist (not an outage)."""
    return isinstance(exc, MlflowException) and exc.error_code == MISSING


def read_json_artifact(run_id: str, name: str) -> dict[str, Any]:
    """Read and parse a JSON artifact of a run (``mlflow.artifacts.load_dict``)."""
    return dict(mlflow.artifacts.load_dict(f"runs:/{run_id}/{name}"))


def read_text_artifact(run_id: str, name: str) -> str | None:
    """A run's text artifact, or None when the run (``run_id`` empty) or artifact does not exist.

    Raises:
        MlflowException: any other failure (the store is down, unreadable): not "missing".
    """
    if not run_id:  # a version registered by hand has no run
        return None
    try:
        return str(mlflow.artifacts.load_text(f"runs:/{run_id}/{name}"))
    except MlflowException as exc:
        if is_missing(exc):
            return None
        raise


def read_csv_artifact(run_id: str, name: str, index_col: int | None = None) -> pd.DataFrame | None:
    """A run's CSV artifact as a frame, or None when the run or the artifact does not exist."""
    text = read_text_artifact(run_id, name)
    return None if text is None else pd.read_csv(io.StringIO(text), index_col=index_col)


def latest_finished_run(pair: str, kind: str) -> str | None:
    """The id of the pair's newest finished run tagged ``kind`` (None when it has none)."""
    experiment = mlflow.get_experiment_by_name(experiment_name(pair))
    if experiment is None:
        return None
    found = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"tags.kind = '{kind}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return str(found[0].info.run_id) if found else None


def log_params(params: Mapping[str, Any]) -> None:
    """Log parameters to the active run."""
    mlflow.log_params(dict(params))


def set_run_tag(run_id: str, key: str, value: str) -> None:
    """Set one tag on a run that need not be active."""
    mlflow.MlflowClient().set_tag(run_id, key, value)


def end_run(status: str = "FINISHED") -> None:
    """End the active run with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``)."""
    mlflow.end_run(status=status)


def log_dict(data: Mapping[str, Any], name: str) -> None:
    """Log a JSON artifact."""
    mlflow.log_dict(dict(data), name)


def set_tags(tags: Mapping[str, str]) -> None:
    """Set tags on the active run."""
    mlflow.set_tags(dict(tags))


def log_dataset_info(dataset: Any, split: Any) -> None:
    """Log the data identity, the dropped rows and where development and holdout lie.

    Args:
        dataset: A ``mlpkg.pipelines.dataset.PairDataset``.
        split: Its ``mlpkg.evaluation.splits.HoldoutSplit``.
    """
    from mlpkg.data.sources import candles_checksum, describe_candles

    candles = dataset.candles
    calendar = str(getattr(dataset, "calendar", ""))
    log_data_info(describe_candles(candles, calendar), candles_checksum(candles))
    mlflow.log_params(
        {
            "rows_dropped_label_gap": dataset.dropped_label_rows,
            "rows_dropped_window_gap": dataset.dropped_window_rows,
            "dev_rows": split.dev_rows,
            "dev_end": str(split.dev_end_time),
            "holdout_first": str(split.start_time),
            "holdout_last": str(split.end_time),
            "holdout_purge_rows": split.purge,
        }
    )


def read_run_json(run_id: str, name: str) -> dict[str, Any] | None:
    """A run's JSON artifact, or None when the run (``run_id`` empty) or artifact does not exist.

    Raises:
        MlflowException: any other failure (the store is down, unreadable): not "missing".
    """
    if not run_id:  # a version registered by hand has no run
        return None
    try:
        return read_json_artifact(run_id, name)
    except MlflowException as exc:
        if not is_missing(exc):
            raise
        log.debug("run %s has no %s", run_id, name)
        return None
