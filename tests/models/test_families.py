from __future__ import annotations

import inspect
import json

import pytest

from mlpkg.config import FAMILIES, NEURAL_FAMILIES, RunConfig
from mlpkg.errors import ConfigError, ModelLoadError
from mlpkg.models import ESTIMATORS, estimator_class, is_neural, load_estimator, make_estimator


def test_every_family_has_an_estimator_in_reporting_order():
    assert tuple(ESTIMATORS) == FAMILIES
    assert [is_neural(f) for f in FAMILIES] == [f in NEURAL_FAMILIES for f in FAMILIES]
    assert ESTIMATORS["lightgbm"].budget_param == "n_estimators"
    assert all(ESTIMATORS[f].budget_param == "epochs" for f in NEURAL_FAMILIES)
    assert ESTIMATORS["logistic"].budget_param is None


@pytest.mark.parametrize("family", FAMILIES)
def test_make_estimator_copies_the_config_section_purge_and_seed(family):
    config = RunConfig(horizon=3, seed=11, features={"return_lookbacks": (1, 3)})
    model = make_estimator(family, config)
    params = model.get_params()
    section = config.section(family).model_dump()

    assert type(model) is estimator_class(family)
    assert {k: params[k] for k in section} == section
    if family == "logistic":
        assert set(params) == {*section, "max_iter"}
    else:
        # the early-stopping tail is purged like the folds: h + window, not h alone
        window = section.get("window", 1)
        assert (params["purge"], params["seed"]) == (3 + window, 11)
        assert make_estimator(family, config, seed=12).get_params()["seed"] == 12
    if "window" in section:
        assert model.context_rows == section["window"] - 1


def test_make_estimator_follows_the_flattened_run_parameters():
    config = RunConfig.from_flat(gru_units=7, gru_window=12, lightgbm_num_leaves=5)

    assert make_estimator("gru", config).units == 7
    assert make_estimator("gru", config).context_rows == 11
    assert make_estimator("lightgbm", config).num_leaves == 5


def test_unknown_family_is_a_config_error():
    with pytest.raises(ConfigError, match="Unknown model family 'xgboost'"):
        make_estimator("xgboost", RunConfig())


def test_load_estimator_names_an_unknown_recorded_family(fitted_cache, tmp_path):
    model, _ = fitted_cache.get("majority")
    model.save(tmp_path / "m")
    record = json.loads((tmp_path / "m" / "estimator.json").read_text())
    record["family"] = "prophet"
    (tmp_path / "m" / "estimator.json").write_text(json.dumps(record))

    with pytest.raises(ModelLoadError, match="unknown family 'prophet'"):
        load_estimator(tmp_path / "m")


@pytest.mark.parametrize("family", FAMILIES)
def test_estimator_defaults_equal_the_config_defaults(family):
    """An estimator built by hand (notebooks, sklearn tools) behaves like one from a RunConfig."""
    section = RunConfig().section(family).model_dump()
    parameters = inspect.signature(ESTIMATORS[family].__init__).parameters
    assert set(section) <= set(parameters), set(section) - set(parameters)
    defaults = {name: parameters[name].default for name in section}
    assert defaults == section
