"""An isolated MLflow tracking and registry store (SQLite) in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from support import mlflow_store


@pytest.fixture
def tracking_store(tmp_path: Path) -> Iterator[mlflow.MlflowClient]:
    """Point MLflow at a fresh SQLite store for one test; restore the previous URIs after."""
    with mlflow_store(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        experiment = mlflow.create_experiment(
            "mlpkg/TEST", artifact_location=(tmp_path / "artifacts").as_uri()
        )
        mlflow.set_experiment(experiment_id=experiment)
        yield mlflow.MlflowClient()
