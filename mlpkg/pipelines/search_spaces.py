"""Hyperparameter search spaces, one per model family: checked and turned into Optuna's.

A space maps flattened run-config names (``lstm_units``, ``lightgbm_num_leaves``: the names of
the CLI options, the notebook parameters and the MLflow params) to a typed range. Every bound
is a valid value of its field (a test checks each against ``RunConfig``), so a sampled trial
never fails validation. Each space is declared in its family's row of
``mlpkg.models.registry.FAMILY_TABLE`` (the ranges are ``mlpkg.models.spaces``). ``mlpkg tune``
turns a space into Optuna distributions; Optuna's TPE sampler picks the values.

The neural families search their window, width, depth, dropout, learning rate and batch size
(each with its own field names: ``cnn_filters``/``cnn_kernel_size``, ``transformer_d_model``/
``transformer_heads``/``transformer_ff_units``); LightGBM its leaves, learning rate, rows per
leaf and column share; logistic regression its inverse regularisation ``C``. Every other field
keeps the value of the run config the search starts from (``--lstm-epochs 5`` and so on).
"""

from __future__ import annotations

from typing import Any

from mlpkg.config import FAMILIES
from mlpkg.errors import ConfigError
from mlpkg.models.registry import FAMILY_TABLE
from mlpkg.models.spaces import Choice, FloatRange, IntRange, Parameter, SearchSpace

__all__ = [
    "SEARCH_SPACES",
    "Choice",
    "FloatRange",
    "IntRange",
    "Parameter",
    "SearchSpace",
    "check_space",
    "describe_space",
    "largest_window",
    "optuna_distributions",
    "search_space",
]

SEARCH_SPACES: dict[str, dict[str, Parameter]] = {
    name: dict(spec.space) for name, spec in FAMILY_TABLE.items()
}
"""The search space of every model family (``FAMILY_TABLE``'s ``space`` column)."""


def search_space(family: str) -> dict[str, Parameter]:
    """Return a family's search space.

    Raises:
        ConfigError: on an unknown family.
    """
    if family not in SEARCH_SPACES:
        raise ConfigError(f"Unknown model family {family!r}; families: {', '.join(FAMILIES)}.")
    return dict(SEARCH_SPACES[family])


def check_space(family: str, space: SearchSpace) -> None:
    """Check that every name of a space is a field of the family's section.

    Raises:
        ConfigError: if a name belongs to another family or to no field at all.
    """
    from mlpkg.config import RunConfig

    fields = set(RunConfig.flat_fields())
    wrong = [name for name in space if not name.startswith(f"{family}_") or name not in fields]
    if wrong or not space:
        raise ConfigError(
            f"Search space of {family!r} names {wrong or 'nothing'}: use fields of its "
            f"section, such as {', '.join(sorted(SEARCH_SPACES[family]))}."
        )


def optuna_distributions(space: SearchSpace) -> dict[str, Any]:
    """Translate a space into ``optuna.distributions`` (what ``OptunaSearch`` receives)."""
    from optuna import distributions

    converted: dict[str, Any] = {}
    for name, parameter in space.items():
        if isinstance(parameter, IntRange):
            converted[name] = distributions.IntDistribution(
                parameter.low, parameter.high, step=parameter.step, log=parameter.log
            )
        elif isinstance(parameter, FloatRange):
            converted[name] = distributions.FloatDistribution(
                parameter.low, parameter.high, log=parameter.log
            )
        else:
            converted[name] = distributions.CategoricalDistribution(parameter.options)
    return converted


def describe_space(space: SearchSpace) -> dict[str, str]:
    """One readable line per parameter (logged to the tune run as ``search_space.json``)."""
    described = {}
    for name, parameter in space.items():
        if isinstance(parameter, Choice):
            described[name] = "one of " + ", ".join(map(str, parameter.options))
        else:
            scale = "log" if parameter.log else "uniform"
            step = f", step {parameter.step}" if isinstance(parameter, IntRange) else ""
            described[name] = f"{parameter.low} to {parameter.high} ({scale}{step})"
    return described


def largest_window(family: str, space: SearchSpace, default: int) -> int:
    """The widest window a trial of the space can use (``default`` when it is not searched)."""
    parameter = space.get(f"{family}_window")
    if isinstance(parameter, IntRange):
        return parameter.high
    if isinstance(parameter, Choice):
        return max(int(v) for v in parameter.options)
    return default
