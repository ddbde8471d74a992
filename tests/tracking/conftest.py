"""An isolated MLflow tracking and registry store (SQLite) in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest


@pytest.fixture
def tracking_store(tmp_path: Path) -> Iterator[mlflow.MlflowClient]:
    """Point MLflow at a fresh SQLite store for one test; restore the previous URIs after."""
    previous_tracking, previous_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment(
        "mlpkg/TEST", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)
    try:
        yield mlflow.MlflowClient()
    finally:
        mlflow.set_tracking_uri(previous_tracking)
        mlflow.set_registry_uri(previous_registry)
