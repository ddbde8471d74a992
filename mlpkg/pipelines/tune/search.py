"""The tune's driver side: the Optuna searcher, the ASHA scheduler, the ``Tuner``, the trial log.

Ray Tune runs the searcher in the driver process; the workers only run the trainable
(``mlpkg.pipelines.tune.trial``). The Optuna trial behind each Ray trial is reached through
``mlpkg.pipelines.tune.ray_shim`` (Ray keeps it in a private attribute).
"""

from __future__ import annotations

import re
from typing import Any

import optuna
import pandas as pd
from optuna.samplers import TPESampler
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from mlpkg.config import Settings
from mlpkg.pipelines import studies
from mlpkg.pipelines.cluster import Cluster
from mlpkg.pipelines.search_spaces import SearchSpace, optuna_distributions
from mlpkg.pipelines.tune.ray_shim import optuna_trial
from mlpkg.pipelines.tune.request import TuneRequest
from mlpkg.pipelines.tune.trial import TRIAL_KEY, Trainable, TrialContext
from mlpkg.progress import Progress, ProgressEvent
from mlpkg.tracking import trials as trial_runs

REDUCTION_FACTOR = 2


class StudySearch(OptunaSearch):
    """OptunaSearch that links each Optuna trial to its Ray trial and MLflow run.

    * The Optuna trial number travels to the worker in the config (``TRIAL_KEY``), so the
      child run is named after it and a retry finds it again.
    * A trial the scheduler stopped before its last fold is told PRUNED (OptunaSearch would
      record its partial running mean as a COMPLETE value).
    * Every fold's running mean is an intermediate value (step = folds done), the one at which
      the scheduler stopped the trial included.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._steps: dict[str, set[int]] = {}
        self._linked: set[str] = set()

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """Ask Optuna for a trial and add its number to the config."""
        params = super().suggest(trial_id)
        if params is None:
            return None
        ot_trial = optuna_trial(self, trial_id)
        ot_trial.set_user_attr("ray_trial_id", trial_id)
        return {**params, TRIAL_KEY: ot_trial.number}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Report the running mean as the intermediate value; record the MLflow run once."""
        super().on_trial_result(trial_id, result)
        self._steps.setdefault(trial_id, set()).add(result["training_iteration"])
        self._link(trial_id, result)

    def _link(self, trial_id: str, result: dict[str, Any]) -> None:
        """Record the trial's MLflow child run on the Optuna trial (once)."""
        if result.get("mlflow_run_id") and trial_id not in self._linked:
            optuna_trial(self, trial_id).set_user_attr("mlflow_run_id", result["mlflow_run_id"])
            self._linked.add(trial_id)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Tell Optuna COMPLETE only when every fold ran, else PRUNED (or FAIL on error).

        Tune does not pass the result that made the scheduler stop a trial to the searcher,
        so its running mean is recorded here as the last intermediate value.
        """
        last = result or {}
        self._link(trial_id, last)
        step = last.get("training_iteration")
        if step is not None and "log_loss" in last and step not in self._steps.get(trial_id, ()):
            optuna_trial(self, trial_id).report(last["log_loss"], step)
        finished = result is not None and bool(result.get("final")) and not error
        super().on_trial_complete(trial_id, result if finished else None, error)


class TrialLog(tune.Callback):
    """Driver-side callback: one ``trial`` event per finished trial; marks failed child runs."""

    def __init__(self, context: TrialContext, total: int, progress: Progress) -> None:
        self.context, self.total, self.progress, self.done = context, total, progress, 0

    def _finished(self, trial: Any, outcome: str) -> None:
        self.done += 1
        params = " ".join(
            f"{k.removeprefix(self.context.family + '_')}={_short(v)}"
            for k, v in trial.config.items()
            if k != TRIAL_KEY
        )
        number = trial.config.get(TRIAL_KEY, "?")
        text = f"trial {number} [{self.done}/{self.total}] {outcome} | {params}"
        self.progress(ProgressEvent("trial", text, self.done, self.total))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Report a complete or pruned trial."""
        last = trial.last_result or {}
        if last.get("final"):
            outcome = f"complete: log_loss {last['log_loss']:.5f}"
        else:
            n_folds = self.context.config.walk_forward.n_folds
            outcome = (
                f"pruned after fold {last.get('folds', 0)}/{n_folds} "
                f"(running log_loss {last.get('log_loss', float('nan')):.5f})"
            )
        self._finished(trial, outcome)

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Report a failed attempt that Ray retries (not a finished trial)."""
        text = (
            f"trial {trial.config.get(TRIAL_KEY, '?')}: attempt {trial.num_failures} failed "
            f"({_first_line(trial)}); retrying"
        )
        self.progress(ProgressEvent("stage", text, self.done, self.total))

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Report a trial that failed for good and mark its child run failed."""
        reason = _first_line(trial)
        self._finished(trial, f"failed after {trial.num_failures} attempt(s): {reason}")
        client = trial_runs.client_for(self.context.tracking_uri)
        number = trial.config.get(TRIAL_KEY)
        run = (
            None
            if number is None
            else trial_runs.find_trial_run(client, self.context.parent_run_id, int(number))
        )
        if run is not None and run.data.tags.get(trial_runs.TRIAL_STATE_TAG) != "failed":
            trial_runs.end_trial_run(client, str(run.info.run_id), "failed", note=reason)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _first_line(trial: Any) -> str:
    """The line of a trial's error that names the exception (its last such line)."""
    error = trial.get_error()
    text = str(error.__cause__ or error) if error is not None else ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b.*:", line)]
    return (named or lines or ["unknown error"])[-1][:300]


def build_searcher(
    space: SearchSpace, context: TrialContext, storage: optuna.storages.RDBStorage
) -> StudySearch:
    """OptunaSearch over the study, its TPE sampler seeded by the config seed + trials done."""
    finished = studies.count_finished(storage, context.study)
    return StudySearch(
        optuna_distributions(space),
        metric="log_loss",
        mode="min",
        sampler=TPESampler(seed=context.config.seed + finished),
        study_name=context.study,
        storage=storage,
    )


def _scheduler(request: TuneRequest, n_folds: int) -> ASHAScheduler | None:
    """ASHA on the running mean after every fold (None without pruning)."""
    if not request.prune:
        return None
    return ASHAScheduler(
        time_attr="training_iteration",
        metric="log_loss",
        mode="min",
        max_t=n_folds,
        grace_period=max(1, min(request.grace_folds, n_folds)),
        reduction_factor=REDUCTION_FACTOR,
    )


def build_tuner(
    request: TuneRequest,
    searcher: StudySearch,
    trainable: Trainable,
    context: TrialContext,
    candles: pd.DataFrame,
    remaining: int,
    cluster: Cluster,
    settings: Settings,
    progress: Progress,
) -> tune.Tuner:
    """Build the Tuner: the searcher, ASHA, retries, ``cpus_per_trial`` CPUs per trial."""
    concurrency = request.concurrency or max(1, cluster.cpus // request.cpus_per_trial)
    bound = tune.with_resources(
        tune.with_parameters(trainable, context=context, candles=candles),
        {"cpu": request.cpus_per_trial},
    )
    return tune.Tuner(
        bound,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=_scheduler(request, context.config.walk_forward.n_folds),
            num_samples=remaining,
            max_concurrent_trials=concurrency,
            reuse_actors=True,
            trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=context.study,
            storage_path=str(settings.resolve(settings.mlruns_dir) / "ray"),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=request.max_failures),
            callbacks=[TrialLog(context, remaining, progress)],
        ),
    )
