"""The typed ranges a hyperparameter search space is made of (pure data, no Optuna).

A space maps flattened run-config names (``lstm_units``, ``lightgbm_num_leaves``: the names of
the CLI options, the notebook parameters and the MLflow params) to a range. Each family's space
is declared in its row of ``mlpkg.models.registry.FAMILY_TABLE``; ``mlpkg.pipelines.
search_spaces`` checks them and turns them into Optuna distributions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class IntRange:
    """Whole numbers from ``low`` to ``high`` inclusive (every ``step``; log-uniform if ``log``)."""

    low: int
    high: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    """Real numbers from ``low`` to ``high`` (log-uniform if ``log``)."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Choice:
    """One of a few values (an unordered category for the sampler)."""

    options: tuple[int | float | str, ...]


Parameter = IntRange | FloatRange | Choice
SearchSpace = Mapping[str, Parameter]
"""Flattened run-config name -> range."""

_WINDOW = IntRange(16, 96, step=8)
_DROPOUT = FloatRange(0.0, 0.5)
_LEARNING_RATE = FloatRange(1e-4, 1e-2, log=True)
_BATCH_SIZE = Choice((64, 128, 256, 512))


def family_space(family: str, **own: Parameter) -> dict[str, Parameter]:
    """A family's space from its own field names (``units=...`` becomes ``<family>_units``)."""
    return {f"{family}_{name}": value for name, value in own.items()}


def neural_space(family: str, **own: Parameter) -> dict[str, Parameter]:
    """A neural family's space: the shared window, dropout, learning rate and batch size + own."""
    shared: dict[str, Parameter] = {
        "window": _WINDOW,
        "dropout": _DROPOUT,
        "learning_rate": _LEARNING_RATE,
        "batch_size": _BATCH_SIZE,
    }
    return family_space(family, **shared, **own)
