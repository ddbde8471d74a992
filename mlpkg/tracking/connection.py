"""This process's tracking URI, and MLflow imported only when something needs it.

Importing ``mlflow`` costs about 1 s of its own and 2.5 s with what it pulls in (SQLAlchemy,
alembic, OpenTelemetry) plus ~60 MiB per process (measured, docs/benchmarks.md), which a
prediction server does not need: it reads the registry through
``mlpkg.tracking.registry_store`` when the store is a SQLite file. ``configure_uri`` records
the URI without importing MLflow; ``mlflow_module`` imports MLflow on first use and points it
at that URI then. ``mlpkg.tracking.runs.configure_tracking`` (training, CLI) records the URI
here and configures MLflow at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

from mlpkg.config import Settings, get_settings

_state: dict[str, str | None] = {"uri": None, "applied": None}


def configure_uri(settings: Settings | None = None) -> str:
    """Record the tracking URI of ``settings`` (MLflow is configured when first imported).

    Also creates ``mlruns/`` and silences MLflow's artifact-download progress bars and the
    "View run ... at: <url>" lines MLflow 3 prints to stdout (unless the user set
    ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` or ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``).

    Returns:
        The tracking URI.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    settings = settings or get_settings()
    settings.resolve(settings.mlruns_dir).mkdir(parents=True, exist_ok=True)
    uri = settings.resolved_tracking_uri
    _state["uri"] = uri
    if "mlflow" in sys.modules:  # already imported (training, tests): point it there now
        _apply(sys.modules["mlflow"], uri)
    return uri


def tracking_uri() -> str | None:
    """The registry URI in force: MLflow's own once it is imported, else the recorded one.

    Once MLflow is imported it stays the source of truth (code and tests may point it
    elsewhere with ``mlflow.set_registry_uri``), so reads without MLflow and writes with it
    always go to the same store. ``None``: nothing recorded and MLflow not imported.
    """
    mlflow = sys.modules.get("mlflow")
    if mlflow is None or not hasattr(mlflow, "get_registry_uri"):
        return _state["uri"]
    if _state["uri"] is not None and _state["applied"] != _state["uri"]:
        _apply(mlflow, _state["uri"])  # recorded before MLflow was imported elsewhere
    return str(mlflow.get_registry_uri())


def sqlite_store() -> Path | None:
    """The store's file when the registry URI in force is ``sqlite:///<path>`` (else ``None``)."""
    uri = tracking_uri()
    if uri is None or not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///"))


def mlflow_module() -> ModuleType:
    """Import MLflow (the first call costs seconds) and point it at the recorded URI."""
    import mlflow

    uri = _state["uri"]
    if uri is not None and _state["applied"] != uri:
        _apply(mlflow, uri)
    return mlflow


def _apply(mlflow: ModuleType, uri: str) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    _state["applied"] = uri
