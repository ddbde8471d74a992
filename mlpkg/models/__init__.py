"""Models: the Keras LSTM graph, its scikit-learn-style estimator, baselines and signals.

Importing this package does not import TensorFlow; Keras loads on the first build/fit/load.
"""

from mlpkg.models.baselines import (
    AlwaysUpBaseline,
    LogisticBaseline,
    MajorityClassBaseline,
    PersistenceBaseline,
    default_baselines,
)
from mlpkg.models.estimator import DirectionEstimator, LSTMDirectionClassifier
from mlpkg.models.lstm import build_lstm
from mlpkg.models.signals import DirectionPrediction, describe_prediction

__all__ = [
    "AlwaysUpBaseline",
    "DirectionEstimator",
    "DirectionPrediction",
    "LSTMDirectionClassifier",
    "LogisticBaseline",
    "MajorityClassBaseline",
    "PersistenceBaseline",
    "build_lstm",
    "default_baselines",
    "describe_prediction",
]
