"""The one place mlpkg reaches into Ray's ``OptunaSearch``: its private ``_ot_trials`` map.

``OptunaSearch`` keeps the Optuna trial it asked for each Ray trial in ``_ot_trials`` (Ray trial
id -> ``optuna.Trial``) and offers no public accessor. mlpkg needs that trial to record the Ray
trial id and the MLflow run on it, to carry its number to the worker, and to report the running
mean at which ASHA stopped a trial. ``tests/pipelines/test_ray_shim.py`` pins the attribute
against the installed Ray, so an upgrade that renames it fails there, by name, rather than in a
tune.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlpkg.errors import LibraryInternalsError

if TYPE_CHECKING:
    import optuna
    from ray.tune.search.optuna import OptunaSearch

PRIVATE_TRIALS = "_ot_trials"
"""The private attribute of ``ray.tune.search.optuna.OptunaSearch`` read here."""


def optuna_trial(searcher: OptunaSearch, trial_id: str) -> optuna.Trial:
    """The Optuna trial ``searcher`` suggested for the Ray trial ``trial_id``.

    Raises:
        LibraryInternalsError: if ``OptunaSearch`` has no ``_ot_trials`` map any more.
        KeyError: if the searcher suggested nothing for ``trial_id``.
    """
    trials = getattr(searcher, PRIVATE_TRIALS, None)
    if not isinstance(trials, dict):
        import ray

        raise LibraryInternalsError(
            f"ray {ray.__version__}: OptunaSearch has no {PRIVATE_TRIALS} map any more, which "
            "mlpkg.pipelines.tune.ray_shim reads. Install the Ray version pyproject.toml pins, "
            "or update the shim to the new attribute."
        )
    trial: optuna.Trial = trials[trial_id]
    return trial
