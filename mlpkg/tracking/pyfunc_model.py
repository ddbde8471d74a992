"""The pyfunc flavour of a model bundle, logged as code (MLflow "models from code").

MLflow runs this file when it loads the model, so nothing is pickled: the model's state is
the bundle folder passed as the ``bundle`` artifact. Input: feature rows, oldest first (the
columns of ``bundle/meta.json`` ``feature_names``); output: the combined P(up) for every row
with enough history behind it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from mlpkg.tracking.bundle import BUNDLE_ARTIFACT, ModelBundle, load_bundle


class DirectionPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Feature rows in (oldest first), P(up) for each row with a full window out."""

    bundle: ModelBundle

    def load_context(self, context: Any) -> None:
        """Load the bundle from the logged artifacts."""
        self.bundle = load_bundle(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """Return the combined P(up) of every input row that has a full window behind it."""
        combined = self.bundle.combine(self.bundle.member_probas(model_input))
        return np.asarray(combined[~np.isnan(combined)])


mlflow.models.set_model(DirectionPyfunc())
