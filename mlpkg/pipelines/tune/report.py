"""A study read back as a report: counts, the best trial, the trials table and Optuna's plots.

Everything here is Optuna's own view of the study: ``Study.trials_dataframe`` for the table,
``Study.best_trial`` for the best complete trial, and ``optuna.visualization.matplotlib`` for
the figures (optimisation history, each parameter's slice, the intermediate values: the running
mean after every fold, where ASHA stopped the pruned trials). ``log_report`` writes them to the
tune's parent run through ``mlpkg.tracking`` (``trials.csv`` and ``plots/*.png``).
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from mlpkg.pipelines import studies
from mlpkg.pipelines.search_spaces import SearchSpace
from mlpkg.pipelines.tune.request import TuneResult
from mlpkg.tracking import runs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TRIAL_COLUMNS = ("number", "state", "log_loss", "running_log_loss", "folds", "seconds")
"""The columns of ``trials_frame`` before the parameters (one column per parameter)."""


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: Optuna's ``trials_dataframe`` with mlpkg's column names.

    Columns: number, state (lower case), log_loss (the objective of a complete trial), the
    running mean at its last reported fold, the folds it ran, its seconds, then its params.
    """
    frame = study.trials_dataframe(attrs=("number", "value", "state", "duration", "params"))
    if frame.empty:
        return pd.DataFrame(columns=list(TRIAL_COLUMNS))
    steps = {t.number: t.intermediate_values for t in study.get_trials(deepcopy=False)}
    last = {n: values[max(values)] if values else np.nan for n, values in steps.items()}
    frame = frame.rename(columns={"value": "log_loss"})
    frame.columns = [str(c).removeprefix("params_") for c in frame.columns]
    frame["state"] = frame["state"].str.lower()
    frame["running_log_loss"] = frame["number"].map(last).astype(float)
    frame["folds"] = frame["number"].map({n: len(v) for n, v in steps.items()})
    frame["seconds"] = frame.pop("duration").dt.total_seconds()
    params = [c for c in frame.columns if c not in TRIAL_COLUMNS]
    return frame[[*TRIAL_COLUMNS, *params]]


def best_trial(study: optuna.Study, record: studies.StudyRecord) -> dict[str, Any] | None:
    """The study's best complete trial (``Study.best_trial``) as ``best_trial.json`` holds it."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    top = study.best_trial
    return {
        "study": record.name,
        "number": top.number,
        "log_loss": top.value,
        "params": dict(top.params),
        "family": record.family,
        "pair": record.pair,
        "horizon": record.config.horizon,
        "n_folds": record.config.walk_forward.n_folds,
        "mlflow_run_id": top.user_attrs.get("mlflow_run_id"),
    }


def summarize(
    storage: optuna.storages.RDBStorage,
    record: studies.StudyRecord,
    requested: int,
    space: SearchSpace | None = None,
) -> TuneResult:
    """Read the study back: counts by state, the best complete trial, the table, the figures."""
    study = studies.load(storage, record.name)
    counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
    return TuneResult(
        study=record.name,
        storage=studies.redact(str(storage.url)),
        pair=record.pair,
        family=record.family,
        parent_run_id=record.parent_run_id,
        requested=requested,
        counts=dict(counts),
        best=best_trial(study, record),
        trials=trials_frame(study),
        figures=tune_figures(study, space or {}),
    )


def tune_figures(study: optuna.Study, space: SearchSpace) -> dict[str, Figure]:
    """Optuna's matplotlib plots of the study, by the name they are logged under (``plots/``).

    ``tune_history``: each complete trial's objective and the best so far;
    ``tune_slices``: the objective against each searched parameter;
    ``tune_intermediate``: every trial's running mean fold by fold (pruned ones stop early).
    """
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    names = [name for name in space if name in _sampled(study)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes: dict[str, Any] = {
            "tune_history": optuna_plots.plot_optimization_history(
                study, target_name="mean development-fold log loss"
            ),
            "tune_intermediate": optuna_plots.plot_intermediate_values(study),
        }
        if names:
            axes["tune_slices"] = optuna_plots.plot_slice(
                study, params=names, target_name="log loss"
            )
    figures = {name: np.ravel(ax)[0].figure for name, ax in axes.items()}
    for figure in figures.values():
        plt.close(figure)  # logged and returned, not left open in pyplot (or shown twice)
    return figures


def _sampled(study: optuna.Study) -> set[str]:
    return {name for t in study.get_trials(deepcopy=False) for name in t.params}


def log_report(result: TuneResult) -> None:
    """Log the report to the active (parent) run: the trials table, the figures, counts."""
    runs.log_frame(result.trials, "trials")
    runs.log_figures(result.figures)
    runs.log_metrics({f"trials_{state}": n for state, n in result.counts.items()})
