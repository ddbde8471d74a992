"""Hyperparameter search: Optuna's TPE sampler on Ray Tune, every trial tracked in MLflow.

``run_tune`` searches one family's space (``mlpkg.pipelines.search_spaces``) for one pair:

* **Objective**: the mean development-fold log loss (``mlpkg.pipelines.objective``), the value
  ``mlpkg evaluate`` reports for the family; the holdout is never read.
* **Sampler**: ``OptunaSearch`` with a seeded ``TPESampler``; the study lives in an RDB
  storage (``mlpkg.pipelines.studies``), so a tune whose driver died resumes with ``resume``.
* **Pruning**: each trial reports after every fold (the running mean); Ray's ASHA scheduler
  stops a trial whose running mean at a rung (fold 1, 2, 4, ...) is worse than the median of the
  trials that reached that rung, and the study records it PRUNED.
* **Execution**: a ``ray.tune.Tuner``, one CPU per trial, on an embedded Ray or the cluster at
  ``address``; a trial whose worker dies is retried, resuming its MLflow child run.
* **Tracking**: the tune is a parent run in the pair's experiment (``kind=tune``); each trial a
  child run; the best trial's params go to ``best_trial.json`` on the parent, which
  ``mlpkg train --params-from <run id>`` reads; Optuna's own report (trials table, history,
  slices, intermediate values) is logged beside it.

One module per job:

========================  =================================================================
``request``               ``TuneRequest`` and ``TuneResult`` (plain data, no Ray)
``best``                  ``tuned_params``/``apply_tuned_params``: ``train --params-from``
                          (imports neither Ray, Optuna nor matplotlib)
``trial``                 the trainable a Ray worker runs (``run_trial``)
``search``                the driver: ``StudySearch`` (OptunaSearch), ASHA, the ``Tuner``
``ray_shim``              the one access to a private attribute of Ray's ``OptunaSearch``
``report``                the study read back: counts, best trial, trials table, figures
``run``                   ``run_tune``: prepare, run the missing trials, log the report
========================  =================================================================

The names are imported lazily, so ``from mlpkg.pipelines.tune import tuned_params`` loads only
``best``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlpkg.pipelines.tune.best import apply_tuned_params, tuned_params
    from mlpkg.pipelines.tune.report import summarize, trials_frame, tune_figures
    from mlpkg.pipelines.tune.request import DEFAULT_TRIALS, TuneRequest, TuneResult
    from mlpkg.pipelines.tune.run import check_data, holdout_plan, run_tune
    from mlpkg.pipelines.tune.trial import TRIAL_KEY, Trainable, TrialContext, run_trial

_HOMES = {
    "apply_tuned_params": "best",
    "tuned_params": "best",
    "DEFAULT_TRIALS": "request",
    "TuneRequest": "request",
    "TuneResult": "request",
    "summarize": "report",
    "trials_frame": "report",
    "tune_figures": "report",
    "check_data": "run",
    "holdout_plan": "run",
    "run_tune": "run",
    "TRIAL_KEY": "trial",
    "Trainable": "trial",
    "TrialContext": "trial",
    "run_trial": "trial",
}
"""Each public name and the submodule that defines it."""

__all__ = [
    "DEFAULT_TRIALS",
    "TRIAL_KEY",
    "Trainable",
    "TrialContext",
    "TuneRequest",
    "TuneResult",
    "apply_tuned_params",
    "check_data",
    "holdout_plan",
    "run_trial",
    "run_tune",
    "summarize",
    "trials_frame",
    "tune_figures",
    "tuned_params",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its submodule on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
