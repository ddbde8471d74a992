"""Models: six families, naive baselines and ensembles, all scikit-learn estimators; signals.

Importing this package imports nothing heavy: every name below is loaded from its module on
first access (PEP 562), so ``import mlpkg.models.signals`` or ``mlpkg.models.mixture`` (what
the prediction server needs) does not pull in scikit-learn, SciPy's optimiser, TensorFlow or
LightGBM. Keras and LightGBM themselves load on the first build/fit/load of a family.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from mlpkg.models.mixture import combine
    from mlpkg.models.neural import KerasSequenceClassifier
    from mlpkg.models.signals import DirectionPrediction, describe_prediction
    from mlpkg.models.transformer import TransformerDirectionClassifier, build_transformer

_HOMES: dict[str, tuple[str, ...]] = {
    "baselines": (
        "NAIVE_BASELINES",
        "REFERENCE_BASELINE",
        "AlwaysUpBaseline",
        "MajorityClassBaseline",
        "PersistenceBaseline",
        "default_baselines",
        "naive_baselines",
    ),
    "cnn": ("CNNDirectionClassifier", "build_cnn"),
    "ensemble": ("FIXED_WEIGHTS", "EnsembleClassifier", "fit_convex_weights", "fixed_weights"),
    "estimator": ("DirectionClassifier", "DirectionEstimator"),
    "families": ("ESTIMATORS", "estimator_class", "is_neural", "load_estimator", "make_estimator"),
    "gru": ("GRUDirectionClassifier", "build_gru"),
    "lightgbm": ("LightGBMDirectionClassifier", "window_summaries"),
    "logistic": ("LogisticDirectionClassifier",),
    "lstm": ("LSTMDirectionClassifier", "build_lstm"),
    "mixture": ("combine",),
    "neural": ("KerasSequenceClassifier",),
    "signals": ("DirectionPrediction", "describe_prediction"),
    "transformer": ("TransformerDirectionClassifier", "build_transformer"),
}
_MODULE_OF: dict[str, str] = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> Any:
    """Load ``name`` from the module that defines it, on first access."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
