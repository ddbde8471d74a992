"""Fixtures for model tests: small synthetic feature frames and one tiny fitted LSTM."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from mlpkg.models.estimator import LSTMDirectionClassifier

# Keras is imported lazily (on the first fit), so this still silences TensorFlow's C++ logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY = {
    "window": 5,
    "units": 4,
    "lstm_layers": 2,
    "dropout": 0.1,
    "dense_units": 4,
    "epochs": 2,
    "batch_size": 32,
    "patience": 1,
    "validation_fraction": 0.2,
    "purge": 2,
    "seed": 7,
}


def make_frame(
    n_rows: int = 240, n_features: int = 4, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """Noise features on an hourly UTC index and random 0/1 labels."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=n_rows, freq="h", tz="UTC", name="open_time")
    X = pd.DataFrame(
        rng.normal(size=(n_rows, n_features)),
        index=index,
        columns=[f"f{i}" for i in range(n_features)],
    )
    y = pd.Series(rng.integers(0, 2, n_rows).astype("float64"), index=index, name="direction_1")
    return X, y


@pytest.fixture(scope="session")
def tiny_params() -> dict[str, float]:
    """Parameters of a tiny, fast LSTM."""
    return dict(TINY)


@pytest.fixture(scope="session")
def frame_factory():
    """The :func:`make_frame` helper."""
    return make_frame


@pytest.fixture(scope="session")
def noise_data() -> tuple[pd.DataFrame, pd.Series]:
    return make_frame()


@pytest.fixture(scope="session")
def fitted_lstm(noise_data) -> LSTMDirectionClassifier:
    X, y = noise_data
    return LSTMDirectionClassifier(**TINY).fit(X, y)
