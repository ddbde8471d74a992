"""Estimators of the family table: build one from a run config, reload any saved estimator.

The classes come from ``mlpkg.models.registry.FAMILY_TABLE`` (importing this module imports
every family's module; Keras and LightGBM themselves load on first use).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING

from mlpkg.errors import ModelLoadError
from mlpkg.features.labels import purge_rows
from mlpkg.models.artifacts import read_record
from mlpkg.models.baselines import BASELINES
from mlpkg.models.estimator import DirectionClassifier
from mlpkg.models.pooled import pooled
from mlpkg.models.registry import (
    ENSEMBLE_ESTIMATOR,
    ENSEMBLE_FAMILY,
    FAMILY_TABLE,
    family_spec,
    import_estimator,
)

if TYPE_CHECKING:
    from mlpkg.config import RunConfig

ESTIMATORS: dict[str, type[DirectionClassifier]] = {
    name: spec.estimator_class() for name, spec in FAMILY_TABLE.items()
}
"""Estimator class of every model family, in ``FAMILIES`` order (from ``FAMILY_TABLE``)."""


def is_neural(family: str) -> bool:
    """Return whether ``family`` is a Keras family (lstm, gru, cnn, transformer)."""
    return family in FAMILY_TABLE and family_spec(family).neural


def is_seeded(family: str) -> bool:
    """Return whether the family's estimator takes a ``seed`` (its fit is random)."""
    return "seed" in inspect.signature(estimator_class(family).__init__).parameters


def estimator_class(family: str) -> type[DirectionClassifier]:
    """Return the estimator class of a model family.

    Raises:
        ConfigError: on an unknown family.
    """
    return ESTIMATORS[family_spec(family).name]


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
    saved = {**ESTIMATORS, **BASELINES}
    if record.family == ENSEMBLE_FAMILY:
        cls = import_estimator(ENSEMBLE_ESTIMATOR)
    elif record.family in saved:
        cls = saved[record.family]
    else:
        raise ModelLoadError(
            f"{directory} holds a model of unknown family {record.family!r} (known: "
            f"{', '.join([*saved, ENSEMBLE_FAMILY])}); it was written by another mlpkg version: "
            "retrain it."
        )
    return cls.load(Path(directory))
