"""Fixtures for model tests: small synthetic frames, tiny estimators of every kind, fitted once."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from support import TINY_NEURAL, TINY_SECTIONS

from mlpkg.models import (
    AlwaysUpBaseline,
    CNNDirectionClassifier,
    EnsembleClassifier,
    GRUDirectionClassifier,
    LightGBMDirectionClassifier,
    LogisticDirectionClassifier,
    LSTMDirectionClassifier,
    MajorityClassBaseline,
    PersistenceBaseline,
    TransformerDirectionClassifier,
)

# Keras is imported lazily (on the first fit), so this still silences TensorFlow's C++ logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_NEURAL_TRAINING = {
    "window": 5,
    "dropout": 0.1,
    "dense_units": 4,
    "epochs": 2,
    "batch_size": 32,
    "patience": 1,
    "validation_fraction": 0.2,
    "purge": 2,
    "seed": 7,
}
"""Estimator-level training settings for the 240-row battery frame (two epochs, early stopping)."""
_SIZES = {
    family: {k: v for k, v in TINY_SECTIONS[family].items() if k not in TINY_NEURAL}
    for family in ("lstm", "gru", "cnn", "transformer")
}
"""The layer sizes of the suite's tiny run (tests/support.py), without its training settings."""
TINY = {**_NEURAL_TRAINING, **_SIZES["lstm"]}
"""Parameters of a tiny, fast LSTM."""
TINY_PARAMS: dict[str, dict] = {
    "lstm": TINY,
    "gru": {**_NEURAL_TRAINING, **_SIZES["gru"], "layers": 2},  # two layers: the stacking path
    "cnn": {**_NEURAL_TRAINING, **_SIZES["cnn"]},
    "transformer": {**_NEURAL_TRAINING, **_SIZES["transformer"]},
    "lightgbm": {
        "window": 5,
        "n_estimators": 30,
        "num_leaves": 4,
        "learning_rate": 0.1,
        "min_child_samples": 10,
        "feature_fraction": 0.5,
        "patience": 3,
        "validation_fraction": 0.2,
        "purge": 2,
        "seed": 7,
    },
    "logistic": {"c": 1.0},
    "majority": {},
    "always_up": {},
    "persistence": {"column": "return_5"},
}
CLASSES = {
    "lstm": LSTMDirectionClassifier,
    "gru": GRUDirectionClassifier,
    "cnn": CNNDirectionClassifier,
    "transformer": TransformerDirectionClassifier,
    "lightgbm": LightGBMDirectionClassifier,
    "logistic": LogisticDirectionClassifier,
    "majority": MajorityClassBaseline,
    "always_up": AlwaysUpBaseline,
    "persistence": PersistenceBaseline,
}
NEURAL = ("lstm", "gru", "cnn", "transformer")
LEARNED = (*NEURAL, "lightgbm", "logistic")
BASELINE_NAMES = ("majority", "always_up", "persistence")
ALL_MODELS = (*LEARNED, *BASELINE_NAMES, "ensemble")
SLOW_FAMILIES = ("gru", "cnn", "transformer")
"""Neural families whose fitting tests run only in the whole suite (``make test``): in
``make test-fast`` the LSTM runs the Keras estimator code all four share (models/neural.py), and
tests/models/test_neural.py still builds each family's graph."""
NAN_TAIL = 5
"""Unlabelled rows at the end of the battery data (like the last `horizon` rows)."""
NAN_GAPS = (40, 41, 42, 130)
"""Rows in the middle of the battery data whose label is NaN (e.g. a candle gap)."""


def fitting(names: Sequence[str]) -> list:
    """``names`` as parameters of a test that fits them: ``SLOW_FAMILIES`` marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_FAMILIES else n for n in names]


def make_model(name: str, **overrides):
    """A tiny unfitted estimator of every kind the battery covers (``ensemble`` included)."""
    if name == "ensemble":
        members = {
            "logistic": make_model("logistic"),
            "lightgbm": make_model("lightgbm"),
            "majority": make_model("majority"),
        }
        return EnsembleClassifier(members, {"logistic": 0.5, "lightgbm": 0.3, "majority": 0.2})
    return CLASSES[name](**{**TINY_PARAMS[name], **overrides})


def make_frame(
    n_rows: int = 240, n_features: int = 4, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """Noise features on an hourly UTC index (the last one named return_5) and 0/1 labels."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=n_rows, freq="h", tz="UTC", name="open_time")
    columns = [f"f{i}" for i in range(n_features - 1)] + ["return_5"]
    X = pd.DataFrame(rng.normal(size=(n_rows, n_features)), index=index, columns=columns)
    y = pd.Series(rng.integers(0, 2, n_rows).astype("float64"), index=index, name="direction_1")
    return X, y


def battery_frame() -> tuple[pd.DataFrame, pd.Series]:
    """The battery's data: noise, NaN labels in a few gap rows and in the last rows."""
    X, y = make_frame()
    y = y.copy()
    y.iloc[list(NAN_GAPS)] = np.nan
    y.iloc[-NAN_TAIL:] = np.nan
    return X, y


class FittedCache:
    """Fits each battery estimator once per session: ``get(name) -> (model, fit's return)``."""

    def __init__(self) -> None:
        self.data = battery_frame()
        self._fitted: dict[str, tuple] = {}

    def get(self, name: str):
        if name not in self._fitted:
            model = make_model(name)
            self._fitted[name] = (model, model.fit(*self.data))
        return self._fitted[name]


@pytest.fixture(scope="session")
def fitted_cache() -> FittedCache:
    """Battery estimators fitted once on :func:`battery_frame`."""
    return FittedCache()


@pytest.fixture(scope="session")
def frame_factory():
    """The :func:`make_frame` helper."""
    return make_frame
