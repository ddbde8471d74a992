"""The family table: one row per model family, the one place a family is wired up.

A row names the family's config section (``mlpkg.config.families``), its estimator class (as an
import path, loaded on first use: reading the table imports neither scikit-learn, TensorFlow
nor LightGBM, so the TensorFlow-free server reads it too), the light runtime the server runs it
with, and its hyperparameter search space. What used to spell the families out by hand derives
from it: ``mlpkg.models.families`` (estimators), ``mlpkg.serving.runtime`` (which loader serves
a member), ``mlpkg.tracking.export`` (which runtime artifact a member gets) and
``mlpkg.pipelines.search_spaces``. The names themselves are the ``Family`` Literal of
``mlpkg.config`` (the config layer sits below this one); a test keeps the table's keys equal to
it, in order, and each row's section and estimator naming the same family.

Adding a family: its name in ``Family``, its section class and ``RunConfig`` field in
``mlpkg.config``, its estimator module here, and one row below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pkgutil import resolve_name
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, cast

from mlpkg.config.families import (
    FAMILIES,
    NEURAL_FAMILIES,
    CNNConfig,
    Family,
    GRUConfig,
    LightGBMConfig,
    LogisticConfig,
    LSTMConfig,
    ModelSection,
    TransformerConfig,
)
from mlpkg.errors import ConfigError
from mlpkg.models.spaces import (
    Choice,
    FloatRange,
    IntRange,
    Parameter,
    family_space,
    neural_space,
)

if TYPE_CHECKING:
    from mlpkg.models.estimator import DirectionClassifier

ServingRuntime = Literal["onnxruntime", "lightgbm", "numpy"]
"""What runs a family in the prediction server (ONNX Runtime, LightGBM's booster, NumPy)."""
ENSEMBLE_FAMILY = "ensemble"
"""The ``family`` a saved ensemble records (``EnsembleClassifier.family``)."""
ENSEMBLE_ESTIMATOR = "mlpkg.models.ensemble:EnsembleClassifier"
"""The class of a saved ensemble (members of any family), by import path: the loader of saved
estimators (``mlpkg.models.families.load_estimator``) needs it and the ensemble needs that
loader for its members, so one side names the other instead of importing it."""


@dataclass(frozen=True)
class FamilySpec:
    """One model family: what configures, fits, serves and tunes it.

    Attributes:
        name: The family (``lstm``).
        section: Its hyperparameter section in ``RunConfig`` (``LSTMConfig``).
        estimator: ``module:Class`` of its scikit-learn estimator, imported on first use.
        runtime: What the prediction server runs it with.
        space: Its hyperparameter search space (flattened run-config names).
    """

    name: Family
    section: type[ModelSection]
    estimator: str
    runtime: ServingRuntime
    space: Mapping[str, Parameter]

    @property
    def neural(self) -> bool:
        """Whether it is a Keras family (trained with TensorFlow, served through ONNX)."""
        return self.name in NEURAL_FAMILIES

    def estimator_class(self) -> type[DirectionClassifier]:
        """Import and return the estimator class (the first call imports its module)."""
        return import_estimator(self.estimator)


def import_estimator(path: str) -> type[DirectionClassifier]:
    """The estimator class at ``module:Class`` (``pkgutil.resolve_name``)."""
    return cast("type[DirectionClassifier]", resolve_name(path))


def _neural(
    name: Family, section: type[ModelSection], estimator: str, **own: Parameter
) -> FamilySpec:
    return FamilySpec(name, section, estimator, "onnxruntime", neural_space(name, **own))


# One row per family, alike by design (a declaration table); lstm and gru search the same
# ranges because their graphs differ only in the recurrent cell.
_ROWS = (
    _neural(
        "lstm",
        LSTMConfig,
        "mlpkg.models.lstm:LSTMDirectionClassifier",
        units=IntRange(16, 128, log=True),
        layers=IntRange(1, 3),
    ),
    _neural(
        "gru",
        GRUConfig,
        "mlpkg.models.gru:GRUDirectionClassifier",
        units=IntRange(16, 128, log=True),
        layers=IntRange(1, 3),
    ),
    _neural(
        "cnn",
        CNNConfig,
        "mlpkg.models.cnn:CNNDirectionClassifier",
        filters=IntRange(8, 64, log=True),
        kernel_size=IntRange(2, 5),
        layers=IntRange(1, 4),
    ),
    _neural(
        "transformer",
        TransformerConfig,
        "mlpkg.models.transformer:TransformerDirectionClassifier",
        d_model=Choice((16, 32, 64)),
        heads=Choice((1, 2, 4)),
        layers=IntRange(1, 3),
        ff_units=IntRange(16, 128, log=True),
    ),
    FamilySpec(
        "lightgbm",
        LightGBMConfig,
        "mlpkg.models.lightgbm:LightGBMDirectionClassifier",
        "lightgbm",
        family_space(
            "lightgbm",
            num_leaves=IntRange(4, 64, log=True),
            learning_rate=FloatRange(5e-3, 0.2, log=True),
            min_child_samples=IntRange(20, 1000, log=True),
            feature_fraction=FloatRange(0.3, 1.0),
        ),
    ),
    FamilySpec(
        "logistic",
        LogisticConfig,
        "mlpkg.models.logistic:LogisticDirectionClassifier",
        "numpy",
        family_space("logistic", c=FloatRange(1e-4, 100.0, log=True)),
    ),
)

FAMILY_TABLE: Mapping[Family, FamilySpec] = MappingProxyType({row.name: row for row in _ROWS})
"""Every model family's row, in ``FAMILIES`` (reporting) order."""


def find_family(family: str) -> FamilySpec | None:
    """Return a family's row, or ``None`` when ``family`` is not a model family."""
    return FAMILY_TABLE.get(cast("Family", family))


def family_spec(family: str) -> FamilySpec:
    """Return a family's row.

    Raises:
        ConfigError: on an unknown family.
    """
    spec = find_family(family)
    if spec is None:
        raise ConfigError(f"Unknown model family {family!r}; families: {', '.join(FAMILIES)}.")
    return spec
