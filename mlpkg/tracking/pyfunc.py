"""The logged model: a native estimator directory plus metadata, wrapped as an MLflow pyfunc.

The pyfunc flavour exists so ``mlflow models serve`` and ``mlflow.pyfunc.load_model`` work;
mlpkg's own serving loads the estimator directory natively (no pyfunc overhead per call).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from mlpkg.config import RunConfig
from mlpkg.errors import ModelLoadError
from mlpkg.models.estimator import LSTMDirectionClassifier

ESTIMATOR_KEY = "estimator"
META_KEY = "meta"


@dataclass(frozen=True)
class ModelBundle:
    """A fitted estimator with what it needs to predict live."""

    estimator: LSTMDirectionClassifier
    run_config: RunConfig
    warmup_rows: int
    candle_interval: pd.Timedelta

    @property
    def history_rows(self) -> int:
        """Candles needed to score the latest one: feature warm-up plus the LSTM window."""
        return self.warmup_rows + self.estimator.context_rows + 1

    def meta(self) -> dict[str, Any]:
        """Metadata stored beside the estimator."""
        return {
            "run_config": self.run_config.model_dump(mode="json"),
            "warmup_rows": self.warmup_rows,
            "candle_interval_s": self.candle_interval.total_seconds(),
            "feature_names": list(self.estimator.feature_names_in_),
        }


def save_bundle(bundle: ModelBundle, directory: Path) -> dict[str, str]:
    """Write the bundle into ``directory``; return the pyfunc ``artifacts`` mapping."""
    estimator_dir = directory / ESTIMATOR_KEY
    bundle.estimator.save(estimator_dir)
    meta_path = directory / "mlpkg_meta.json"
    meta_path.write_text(json.dumps(bundle.meta(), indent=2))
    return {ESTIMATOR_KEY: str(estimator_dir), META_KEY: str(meta_path)}


def load_bundle(estimator_dir: Path, meta_path: Path) -> ModelBundle:
    """Load a bundle written by :func:`save_bundle`.

    Raises:
        ModelLoadError: if a file is missing or corrupt.
    """
    try:
        meta = json.loads(meta_path.read_text())
        config = RunConfig.model_validate(meta["run_config"])
        interval = pd.Timedelta(seconds=float(meta["candle_interval_s"]))
        warmup = int(meta["warmup_rows"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"Model metadata {meta_path} is missing or corrupt ({exc}). Retrain the pair "
            "(mlpkg train --pair <PAIR>) to register a fresh version."
        ) from exc
    estimator = LSTMDirectionClassifier.load(estimator_dir)
    return ModelBundle(estimator, config, warmup, interval)


class DirectionPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Pyfunc wrapper: feature rows in (oldest first), P(up) for each fully-windowed row out."""

    def load_context(self, context: Any) -> None:
        """Load the native bundle from the logged artifacts."""
        self.bundle = load_bundle(
            Path(context.artifacts[ESTIMATOR_KEY]), Path(context.artifacts[META_KEY])
        )

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """Return P(up) for every input row that has a full window behind it."""
        proba = self.bundle.estimator.predict_proba(model_input)[:, 1]
        return np.asarray(proba[~np.isnan(proba)])


def log_bundle(bundle: ModelBundle, pip_requirements: list[str]) -> str:
    """Log the bundle as the active run's model; return its model URI."""
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = save_bundle(bundle, Path(tmp))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=DirectionPyfunc(),
            artifacts=artifacts,
            pip_requirements=pip_requirements,
        )
    return str(info.model_uri)


def download_bundle(model_uri: str, dst: Path) -> ModelBundle:
    """Download a logged/registered model (e.g. ``models:/mlpkg-BTC@champion``) and load it.

    Raises:
        ModelLoadError: if the artifacts cannot be downloaded or loaded.
    """
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dst)))
    except Exception as exc:
        raise ModelLoadError(f"Cannot download model {model_uri}: {exc}") from exc
    return load_bundle(local / "artifacts" / ESTIMATOR_KEY, local / "artifacts" / "mlpkg_meta.json")
