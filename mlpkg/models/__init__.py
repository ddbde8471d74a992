"""Models: six families, naive baselines and ensembles, all scikit-learn estimators; signals.

Importing this package does not import TensorFlow or LightGBM; they load on the first
build/fit/load of a family that needs them.
"""

from mlpkg.models.baselines import (
    NAIVE_BASELINES,
    REFERENCE_BASELINE,
    AlwaysUpBaseline,
    MajorityClassBaseline,
    PersistenceBaseline,
    default_baselines,
    naive_baselines,
)
from mlpkg.models.cnn import CNNDirectionClassifier, build_cnn
from mlpkg.models.ensemble import (
    FIXED_WEIGHTS,
    EnsembleClassifier,
    combine,
    fit_convex_weights,
    fixed_weights,
)
from mlpkg.models.estimator import DirectionClassifier, DirectionEstimator
from mlpkg.models.families import (
    ESTIMATORS,
    estimator_class,
    is_neural,
    load_estimator,
    make_estimator,
)
from mlpkg.models.gru import GRUDirectionClassifier, build_gru
from mlpkg.models.lightgbm import LightGBMDirectionClassifier, window_summaries
from mlpkg.models.logistic import LogisticDirectionClassifier
from mlpkg.models.lstm import LSTMDirectionClassifier, build_lstm
from mlpkg.models.neural import KerasSequenceClassifier
from mlpkg.models.signals import DirectionPrediction, describe_prediction
from mlpkg.models.transformer import TransformerDirectionClassifier, build_transformer

__all__ = [
    "ESTIMATORS",
    "FIXED_WEIGHTS",
    "NAIVE_BASELINES",
    "REFERENCE_BASELINE",
    "AlwaysUpBaseline",
    "CNNDirectionClassifier",
    "DirectionClassifier",
    "DirectionEstimator",
    "DirectionPrediction",
    "EnsembleClassifier",
    "GRUDirectionClassifier",
    "KerasSequenceClassifier",
    "LSTMDirectionClassifier",
    "LightGBMDirectionClassifier",
    "LogisticDirectionClassifier",
    "MajorityClassBaseline",
    "PersistenceBaseline",
    "TransformerDirectionClassifier",
    "build_cnn",
    "build_gru",
    "build_lstm",
    "build_transformer",
    "combine",
    "default_baselines",
    "describe_prediction",
    "estimator_class",
    "fit_convex_weights",
    "fixed_weights",
    "is_neural",
    "load_estimator",
    "make_estimator",
    "naive_baselines",
    "window_summaries",
]
