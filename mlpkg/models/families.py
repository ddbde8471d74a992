"""The family registry: build an estimator from a run config, reload any saved estimator."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING

from mlpkg.config import FAMILIES, NEURAL_FAMILIES
from mlpkg.errors import ConfigError, ModelLoadError
from mlpkg.features.labels import purge_rows
from mlpkg.models.artifacts import read_record
from mlpkg.models.baselines import BASELINES
from mlpkg.models.cnn import CNNDirectionClassifier
from mlpkg.models.ensemble import EnsembleClassifier
from mlpkg.models.estimator import DirectionClassifier
from mlpkg.models.gru import GRUDirectionClassifier
from mlpkg.models.lightgbm import LightGBMDirectionClassifier
from mlpkg.models.logistic import LogisticDirectionClassifier
from mlpkg.models.lstm import LSTMDirectionClassifier
from mlpkg.models.pooled import pooled
from mlpkg.models.transformer import TransformerDirectionClassifier

if TYPE_CHECKING:
    from mlpkg.config import RunConfig

ESTIMATORS: dict[str, type[DirectionClassifier]] = {
    cls.family: cls
    for cls in (
        LSTMDirectionClassifier,
        GRUDirectionClassifier,
        CNNDirectionClassifier,
        TransformerDirectionClassifier,
        LightGBMDirectionClassifier,
        LogisticDirectionClassifier,
    )
}
"""Estimator class of every model family, in ``FAMILIES`` order."""
_SAVED: dict[str, type[DirectionClassifier]] = {
    **ESTIMATORS,
    **BASELINES,
    EnsembleClassifier.family: EnsembleClassifier,
}


def is_neural(family: str) -> bool:
    """Return whether ``family`` is a Keras family (lstm, gru, cnn, transformer)."""
    return family in NEURAL_FAMILIES


def estimator_class(family: str) -> type[DirectionClassifier]:
    """Return the estimator class of a model family.

    Raises:
        ConfigError: on an unknown family.
    """
    if family not in ESTIMATORS:
        raise ConfigError(f"Unknown model family {family!r}; families: {', '.join(FAMILIES)}.")
    return ESTIMATORS[family]


def make_estimator(
    family: str, config: RunConfig, *, seed: int | None = None
) -> DirectionClassifier:
    """Build an unfitted estimator from the family's section of ``config``.

    Every field of the section becomes the parameter of the same name; families with a
    validation tail get ``purge = purge_rows(horizon, window)``, the purge of the folds (no
    training label reads a price from the validation period, and no validation window reaches
    back to a training label's price), and seeded families get ``seed`` (default
    ``config.seed``).

    Args:
        family: A name from ``mlpkg.config.FAMILIES``.
        config: The run config.
        seed: Seed for this estimator (e.g. ``config.seed + k`` for the k-th seed).

    Raises:
        ConfigError: on an unknown family.
    """
    cls = estimator_class(family)
    accepted = inspect.signature(cls.__init__).parameters
    params = config.section(family).model_dump()
    purge = purge_rows(config.horizon, int(params.get("window", 1)))
    extra = {"purge": purge, "seed": config.seed if seed is None else seed}
    params.update({name: value for name, value in extra.items() if name in accepted})
    return pooled(cls(**params), config)  # a pooled run: fitted on the pool's rows too


def load_estimator(directory: Path) -> DirectionClassifier:
    """Load any estimator written by ``save`` (family, baseline or ensemble).

    The class comes from the ``family`` recorded in the directory's ``estimator.json``.

    Raises:
        ModelLoadError: if the directory is missing or corrupt, or records an unknown family.
    """
    record = read_record(Path(directory))
    cls = _SAVED.get(record.family)
    if cls is None:
        raise ModelLoadError(
            f"{directory} holds a model of unknown family {record.family!r} (known: "
            f"{', '.join(_SAVED)}); it was written by another mlpkg version: retrain it."
        )
    return cls.load(Path(directory))
