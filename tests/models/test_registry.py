"""The family table: one row per ``Family``, and everything that lists families derives from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from mlpkg.config import FAMILIES, NEURAL_FAMILIES, Family, RunConfig, Settings
from mlpkg.errors import ConfigError
from mlpkg.models.registry import (
    ENSEMBLE_ESTIMATOR,
    ENSEMBLE_FAMILY,
    FAMILY_TABLE,
    ServingRuntime,
    family_spec,
    find_family,
    import_estimator,
)

PUBLIC_FAMILIES = ["lstm", "gru", "cnn", "transformer", "lightgbm", "logistic"]
"""The family names of the HTTP contract (``?model=``, ``modelType``), spelled out on purpose:
clients read them, so a change here is a breaking API change, not a refactor."""


def test_the_table_has_one_row_per_family_in_reporting_order():
    assert tuple(FAMILY_TABLE) == FAMILIES == get_args(Family)
    assert list(FAMILIES) == PUBLIC_FAMILIES
    assert all(name == spec.name for name, spec in FAMILY_TABLE.items())


@pytest.mark.parametrize("family", FAMILIES)
def test_each_row_names_the_section_and_estimator_of_its_own_family(family):
    spec = FAMILY_TABLE[family]
    assert spec.section.family == family
    assert RunConfig.model_fields[family].annotation is spec.section
    assert type(RunConfig().section(family)) is spec.section
    assert spec.estimator_class().family == family
    assert spec.neural == (family in NEURAL_FAMILIES)
    # Keras families are served from their ONNX export; the others never are.
    assert (spec.runtime == "onnxruntime") == spec.neural
    assert spec.runtime in get_args(ServingRuntime)
    assert spec.space and all(name.startswith(f"{family}_") for name in spec.space)


def test_the_ensemble_is_named_by_import_path():
    assert import_estimator(ENSEMBLE_ESTIMATOR).family == ENSEMBLE_FAMILY


def test_an_unknown_family_has_no_row():
    assert find_family("xgboost") is None
    with pytest.raises(ConfigError, match=r"Unknown model family 'prophet'.*lstm, gru"):
        family_spec("prophet")


def test_reading_the_table_imports_no_estimator_module():
    code = (
        "import sys, mlpkg.models.registry as r; "
        "assert len(r.FAMILY_TABLE) == 6; "
        "heavy = [m for m in sys.modules if m.startswith(('sklearn', 'tensorflow', 'keras', "
        "'lightgbm', 'mlpkg.models.lstm', 'mlpkg.models.estimator'))]; "
        "assert not heavy, heavy"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_the_server_loads_every_runtime_kind_of_the_table():
    from mlpkg.serving.runtime import _LOADERS

    assert set(_LOADERS) == set(get_args(ServingRuntime))
    assert {spec.runtime for spec in FAMILY_TABLE.values()} <= set(_LOADERS)


def test_the_search_spaces_are_the_tables():
    from mlpkg.pipelines.search_spaces import SEARCH_SPACES

    assert {name: dict(spec.space) for name, spec in FAMILY_TABLE.items()} == SEARCH_SPACES


def test_the_openapi_schema_keeps_the_family_enum(tmp_path):
    from mlpkg.serving.app import create_app

    schema = create_app(Settings(home=tmp_path)).openapi()
    parameters = schema["paths"]["/api/predictions/{pair}"]["get"]["parameters"]
    (model,) = [p for p in parameters if p["name"] == "model"]
    enums = [s.get("enum") for s in model["schema"].get("anyOf", [model["schema"]])]
    assert PUBLIC_FAMILIES in enums
    model_type = schema["components"]["schemas"]["PredictionDetail"]["properties"]["modelType"]
    assert model_type["enum"] == [*PUBLIC_FAMILIES, "ensemble"]


def test_the_server_refuses_a_member_of_no_family(fitted_cache, tmp_path):
    from mlpkg.errors import ModelLoadError
    from mlpkg.serving.runtime import load_member

    model, _ = fitted_cache.get("majority")
    model.save(tmp_path / "majority")

    with pytest.raises(ModelLoadError, match=r"'majority' model.*lstm, gru, cnn"):
        load_member("majority", tmp_path / "majority", list(model.feature_names_in_))
