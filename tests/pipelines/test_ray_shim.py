"""Contract: the private attribute of Ray's OptunaSearch that mlpkg reads still exists.

Fails, by name, when a Ray upgrade renames ``OptunaSearch._ot_trials``
(``mlpkg.pipelines.tune.ray_shim``), rather than somewhere inside a tune.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from ray.tune.search.optuna import OptunaSearch

from mlpkg.errors import LibraryInternalsError
from mlpkg.pipelines.tune.ray_shim import PRIVATE_TRIALS, optuna_trial


def _searcher() -> OptunaSearch:
    return OptunaSearch(
        {"c": FloatDistribution(0.01, 10.0, log=True)},
        metric="log_loss",
        mode="min",
        sampler=optuna.samplers.TPESampler(seed=0),
        storage=optuna.storages.InMemoryStorage(),
        study_name="contract",
    )


def test_optuna_search_keeps_the_optuna_trial_of_each_ray_trial():
    searcher = _searcher()
    params = searcher.suggest("ray-trial-1")
    assert isinstance(getattr(searcher, PRIVATE_TRIALS), dict), (
        f"ray.tune.search.optuna.OptunaSearch has no {PRIVATE_TRIALS} map any more: update "
        "mlpkg/pipelines/tune/ray_shim.py"
    )
    trial = optuna_trial(searcher, "ray-trial-1")
    assert isinstance(trial, optuna.Trial)
    assert trial.params == params  # the trial behind the suggestion, not another one
    trial.set_user_attr("ray_trial_id", "ray-trial-1")
    assert trial.user_attrs["ray_trial_id"] == "ray-trial-1"


def test_a_missing_private_attribute_is_a_clear_error():
    searcher = _searcher()
    delattr(searcher, PRIVATE_TRIALS)
    with pytest.raises(LibraryInternalsError, match="OptunaSearch has no _ot_trials"):
        optuna_trial(searcher, "ray-trial-1")
