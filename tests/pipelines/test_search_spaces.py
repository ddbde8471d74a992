"""Search spaces: one per family, in its own field names, every bound a valid run config."""

from __future__ import annotations

import optuna
import pytest

from mlpkg.config import FAMILIES, NEURAL_FAMILIES, RunConfig
from mlpkg.errors import ConfigError
from mlpkg.pipelines.search_spaces import (
    SEARCH_SPACES,
    Choice,
    FloatRange,
    IntRange,
    check_space,
    describe_space,
    largest_window,
    optuna_distributions,
    search_space,
)

OWN_FIELDS = {
    "lstm": {"units", "layers"},
    "gru": {"units", "layers"},
    "cnn": {"filters", "kernel_size", "layers"},
    "transformer": {"d_model", "heads", "layers", "ff_units"},
}


def test_every_family_has_a_space_in_its_own_field_names():
    assert set(SEARCH_SPACES) == set(FAMILIES)
    for family in FAMILIES:
        check_space(family, search_space(family))


@pytest.mark.parametrize("family", NEURAL_FAMILIES)
def test_neural_spaces_search_window_width_depth_dropout_rate_and_batch(family):
    fields = {name.removeprefix(f"{family}_") for name in search_space(family)}
    shared = {"window", "dropout", "learning_rate", "batch_size"}
    assert fields == shared | OWN_FIELDS[family]


def test_lightgbm_and_logistic_spaces():
    assert set(search_space("lightgbm")) == {
        "lightgbm_num_leaves",
        "lightgbm_learning_rate",
        "lightgbm_min_child_samples",
        "lightgbm_feature_fraction",
    }
    assert set(search_space("logistic")) == {"logistic_c"}


def _extremes(parameter):
    if isinstance(parameter, Choice):
        return list(parameter.options)
    return [parameter.low, parameter.high]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_bound_is_a_valid_run_config_value(family):
    space = search_space(family)
    for name, parameter in space.items():
        for value in _extremes(parameter):
            config = RunConfig.from_flat(**{name: value})
            assert config.to_flat()[name] == value
    lows = {name: _extremes(p)[0] for name, p in space.items()}
    highs = {name: _extremes(p)[-1] for name, p in space.items()}
    RunConfig.from_flat(**lows)
    RunConfig.from_flat(**highs)


def test_optuna_distributions_keep_types_steps_and_log_scales():
    lstm = optuna_distributions(search_space("lstm"))
    assert lstm["lstm_window"] == optuna.distributions.IntDistribution(16, 96, step=8)
    assert lstm["lstm_units"].log
    assert isinstance(lstm["lstm_learning_rate"], optuna.distributions.FloatDistribution)
    assert lstm["lstm_learning_rate"].log
    assert lstm["lstm_batch_size"].choices == (64, 128, 256, 512)
    assert optuna_distributions(search_space("logistic"))["logistic_c"].log


def test_a_space_naming_another_familys_field_is_rejected():
    with pytest.raises(ConfigError, match=r"lstm_units"):
        check_space("gru", {"lstm_units": IntRange(1, 4)})
    with pytest.raises(ConfigError, match="Unknown model family 'svm'"):
        search_space("svm")


def test_largest_window_and_description():
    assert largest_window("lstm", search_space("lstm"), 60) == 96
    assert largest_window("lightgbm", search_space("lightgbm"), 24) == 24
    assert largest_window("lstm", {"lstm_window": Choice((4, 8))}, 60) == 8
    described = describe_space({"a": IntRange(1, 9, step=2), "b": FloatRange(0.1, 1, log=True)})
    assert described == {"a": "1 to 9 (uniform, step 2)", "b": "0.1 to 1 (log)"}
