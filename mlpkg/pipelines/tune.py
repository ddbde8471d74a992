"""Hyperparameter search: Optuna's TPE sampler on Ray Tune, every trial tracked in MLflow.

``run_tune`` searches one family's space (``mlpkg.pipelines.search_spaces``) for one pair:

* **Objective**: the mean development-fold log loss (``mlpkg.pipelines.objective``), the value
  ``mlpkg evaluate`` reports for the family; the holdout is never read.
* **Sampler**: ``OptunaSearch`` with a seeded ``TPESampler``; the study lives in an RDB
  storage (``mlpkg.pipelines.studies``), so a tune whose driver died resumes with ``resume``.
* **Pruning**: each trial reports after every fold (the running mean); Ray's ASHA scheduler
  stops a trial whose running mean at a rung (fold 1, 2, 4, ...) is worse than the median of the
  trials that reached that rung, and the study records it PRUNED (OptunaSearch delegates
  scheduling to Ray; Optuna's own pruners are not consulted).
* **Execution**: a ``ray.tune.Tuner``, one CPU per trial, thread pools capped to it, on an
  embedded Ray or the cluster at ``address``; a trial whose worker dies is retried
  (``FailureConfig``), resuming its MLflow child run.
* **Tracking**: the tune is a parent run in the pair's experiment (``kind=tune``); each trial a
  child run (``mlpkg.tracking.trials``); the best trial's params go to ``best_trial.json`` on
  the parent, which ``mlpkg train --params-from <run id>`` reads.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from mlpkg.config import FAMILIES, RunConfig, Settings, get_settings
from mlpkg.data.sources import load_candles
from mlpkg.errors import ConfigError
from mlpkg.evaluation.walk_forward import Progress
from mlpkg.pipelines import studies
from mlpkg.pipelines.cluster import Cluster, limit_threads, ray_session
from mlpkg.pipelines.dataset import select_candles
from mlpkg.pipelines.ledger import holdout_start_for, tuned_rows
from mlpkg.pipelines.objective import (
    DevelopmentRows,
    HoldoutPlan,
    development_rows,
    fold_scores,
    trial_config,
)
from mlpkg.pipelines.search_spaces import (
    SearchSpace,
    check_space,
    describe_space,
    largest_window,
    optuna_distributions,
    search_space,
)
from mlpkg.tracking import runs
from mlpkg.tracking import trials as trial_runs

log = logging.getLogger(__name__)

DEFAULT_TRIALS = 20
TRIAL_KEY = "mlpkg_trial"
"""Config key carrying the Optuna trial number to the worker (not a hyperparameter)."""
REDUCTION_FACTOR = 2


@dataclass(frozen=True)
class TuneRequest:
    """What to tune and how to run it.

    Attributes:
        config: The run config trials start from (pair, horizon, folds, epochs, ...); each
            trial overrides the searched fields, and ``models`` becomes ``(family,)``.
        family: The model family whose space is searched (on resume: optional, to pick
            the latest study of that family).
        trials: Complete + pruned trials the study should hold (default 20; on resume, the
            number recorded when the study started).
        concurrency: Trials at once (default: the cluster's CPUs / ``cpus_per_trial``).
        cpus_per_trial: CPUs reserved per trial; its thread pools are capped to them.
        address: Ray cluster to join (default ``RAY_ADDRESS``, else an embedded local Ray).
        resume: Continue the study named ``study`` (or the latest of pair/family).
        study: Study name (default ``<pair>-<family>-<UTC time>`` for a new study).
        prune: Stop hopeless trials early with ASHA (after ``grace_folds`` folds at least).
        grace_folds: Folds every trial runs before it may be pruned.
        max_failures: Retries of a trial whose worker died or raised.
        space: Search space (default: the family's in ``SEARCH_SPACES``).
        crash_once_marker: Fault injection for tests and drills: the first trial attempt that
            finds no file at this path creates it and SIGKILLs its own worker process.
    """

    config: RunConfig
    family: str | None = None
    trials: int | None = None
    concurrency: int | None = None
    cpus_per_trial: int = 1
    address: str | None = None
    resume: bool = False
    study: str | None = None
    prune: bool = True
    grace_folds: int = 1
    max_failures: int = 2
    space: SearchSpace | None = None
    crash_once_marker: Path | None = None


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a tune shares (shipped to the workers once)."""

    family: str
    config: RunConfig
    tracking_uri: str
    parent_run_id: str
    study: str
    pair: str
    cpus: int
    crash_once_marker: str | None = None
    holdout: HoldoutPlan | None = None


@dataclass(frozen=True)
class TuneResult:
    """The outcome of a tune, read back from the study."""

    study: str
    storage: str
    pair: str
    family: str
    parent_run_id: str
    requested: int
    counts: dict[str, int]
    best: dict[str, Any] | None
    trials: pd.DataFrame = field(repr=False)
    seconds: float = 0.0

    @property
    def text(self) -> str:
        """A printable summary: counts, the best trial, where it is logged, what to run next."""
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        lines = [
            f"Study {self.study} ({self.storage}): {self.pair} {self.family}, {counts or 'no'} "
            f"trials; {self.requested} requested. Wall time {self.seconds:.1f} s.",
        ]
        if self.best:
            lines.append(
                f"Best: trial {self.best['number']}, mean development-fold log loss "
                f"{self.best['log_loss']:.5f} (the holdout was not used)."
            )
            if "holdout_start" in self.best:
                lines.append(
                    f"Holdout respected: starts {self.best['holdout_start']} "
                    f"({self.best.get('holdout_source')}); trials chose on rows up to "
                    f"{self.best.get('development_last')}."
                )
            lines += [f"  {name} = {value}" for name, value in self.best["params"].items()]
        else:
            lines.append("No trial completed every fold, so there is no best trial yet.")
        lines.append(f"MLflow: parent run {self.parent_run_id} in experiment mlpkg/{self.pair}.")
        if self.best:
            lines.append(f"Next: mlpkg train --pair {self.pair} --params-from {self.parent_run_id}")
        return "\n".join(lines)


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
        ot_trial = self._ot_trials[trial_id]
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
            self._ot_trials[trial_id].set_user_attr("mlflow_run_id", result["mlflow_run_id"])
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
            self._ot_trials[trial_id].report(last["log_loss"], step)
        finished = result is not None and bool(result.get("final")) and not error
        super().on_trial_complete(trial_id, result if finished else None, error)


def _crash_once(marker: str | None) -> None:
    """Fault injection: SIGKILL this worker the first time (the marker file records it)."""
    if marker is None or Path(marker).exists():
        return
    Path(marker).write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)


def _score_folds(
    client: Any, run_id: str, family: str, config: RunConfig, rows: DevelopmentRows
) -> None:
    """Fit fold by fold, log each fold, report it to Tune; record complete or pruned."""
    for score in fold_scores(family, config, rows):
        trial_runs.log_fold(client, run_id, score.fold, score.log_loss)
        if score.final:
            trial_runs.end_trial_run(client, run_id, "complete", log_loss=score.running_mean)
        metrics = {
            "log_loss": score.running_mean,
            "fold_log_loss": score.log_loss,
            "folds": score.done,
            "final": score.final,
            "mlflow_run_id": run_id,
        }
        try:
            tune.report(metrics)
        except SystemExit:  # Ray ends a stopped trial's thread with sys.exit(0) in report
            if not score.final:
                note = f"stopped by ASHA after fold {score.done} of {score.of}"
                trial_runs.end_trial_run(client, run_id, "pruned", note=note)
            raise


def run_trial(params: dict[str, Any], *, context: TrialContext, candles: pd.DataFrame) -> None:
    """Score one trial fold by fold in a Ray worker, logging to its MLflow child run."""
    limit_threads(context.cpus)
    number = int(params[TRIAL_KEY])
    sampled = {k: v for k, v in params.items() if k != TRIAL_KEY}
    client = trial_runs.client_for(context.tracking_uri)
    tags = {
        "kind": "tune-trial",
        "pair": context.pair,
        "family": context.family,
        trial_runs.STUDY_TAG: context.study,
    }
    run_id = trial_runs.open_trial_run(client, context.parent_run_id, number, sampled, tags)
    _crash_once(context.crash_once_marker)
    try:
        config = trial_config(context.config, context.family, sampled)
        rows = development_rows(candles, config, context.holdout)
        client.set_tag(run_id, "rows_read_until", str(rows.X.index[-1]))
        client.set_tag(run_id, "holdout_first", str(rows.split.start_time))
        _score_folds(client, run_id, context.family, config, rows)
    except Exception as exc:
        trial_runs.end_trial_run(client, run_id, "failed", note=f"{type(exc).__name__}: {exc}")
        raise


class TrialLog(tune.Callback):
    """Driver-side callback: one line per finished trial; marks failed trials' child runs."""

    def __init__(self, context: TrialContext, total: int, progress: Progress) -> None:
        self.context, self.total, self.progress, self.done = context, total, progress, 0

    def _line(self, trial: Any, outcome: str) -> None:
        self.done += 1
        params = " ".join(
            f"{k.removeprefix(self.context.family + '_')}={_short(v)}"
            for k, v in trial.config.items()
            if k != TRIAL_KEY
        )
        number = trial.config.get(TRIAL_KEY, "?")
        self.progress(f"trial {number} [{self.done}/{self.total}] {outcome} | {params}")

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Log a complete or pruned trial."""
        last = trial.last_result or {}
        if last.get("final"):
            outcome = f"complete: log_loss {last['log_loss']:.5f}"
        else:
            n_folds = self.context.config.walk_forward.n_folds
            outcome = (
                f"pruned after fold {last.get('folds', 0)}/{n_folds} "
                f"(running log_loss {last.get('log_loss', float('nan')):.5f})"
            )
        self._line(trial, outcome)

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Log a failed attempt that Ray retries."""
        self.progress(
            f"trial {trial.config.get(TRIAL_KEY, '?')}: attempt {trial.num_failures} failed "
            f"({_first_line(trial)}); retrying"
        )

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Log a trial that failed for good and mark its child run failed."""
        reason = _first_line(trial)
        self._line(trial, f"failed after {trial.num_failures} attempt(s): {reason}")
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


def _base_config(config: RunConfig, family: str | None) -> RunConfig:
    if family not in FAMILIES:
        named = "No model family named" if family is None else f"Unknown model family {family!r}"
        raise ConfigError(f"{named}: tune one of {', '.join(FAMILIES)} (--family).")
    return config.model_copy(update={"models": (family,)})


def holdout_plan(
    candles: pd.DataFrame, config: RunConfig, family: str, space: SearchSpace, settings: Settings
) -> tuple[HoldoutPlan, str]:
    """The holdout every trial respects: the pair's ledger start, purged by the widest window.

    Returns:
        The plan and where its start comes from (``ledger``, ``holdout_start``, ``default``).
    """
    section = config.section(family)
    widest = largest_window(family, space, int(getattr(section, "window", 1)))
    widest = max(widest, config.context_rows() + 1)
    start, source = holdout_start_for(config, select_candles(candles, config), settings)
    return HoldoutPlan(start, widest), source


def check_data(
    candles: pd.DataFrame, config: RunConfig, family: str, space: SearchSpace, plan: HoldoutPlan
) -> DevelopmentRows:
    """Fail before any trial when the widest window of the space leaves too few rows.

    Returns:
        The development rows of a trial at the widest window (every trial's end there).

    Raises:
        ConfigError: naming the window, with the rows the folds would need.
    """
    section = config.section(family)
    params = {f"{family}_window": plan.window} if hasattr(section, "window") else {}
    try:
        return development_rows(candles, trial_config(config, family, params), plan)
    except ConfigError as exc:
        raise ConfigError(
            f"The search space reaches {family}_window={plan.window}, and then: {exc}"
        ) from exc


def _resolve(
    request: TuneRequest, storage: Any
) -> tuple[studies.StudyRecord | None, RunConfig, str]:
    """The study to resume (None for a new one), the run config and the family."""
    if request.resume:
        record = studies.find_study(
            storage, name=request.study, pair=request.config.pair, family=request.family or None
        )
        return record, record.config, record.family
    if request.study and request.study in optuna_study_names(storage):
        raise ConfigError(
            f"Study {request.study!r} exists already: add --resume to continue it, or choose "
            "another --study name."
        )
    config = _base_config(request.config, request.family)
    return None, config, config.models[0]


def optuna_study_names(storage: Any) -> list[str]:
    """Names of the studies in a storage."""
    import optuna

    return list(optuna.get_all_study_names(storage))


def _log_setup(
    record: studies.StudyRecord, space: SearchSpace, request: TuneRequest, settings: Settings
) -> None:
    """Log what the tune optimises to its parent run (once, when the study starts)."""
    runs.log_run_config(record.config)
    scheduler = (
        f"ASHA on the running mean (grace {request.grace_folds} fold(s), reduction factor "
        f"{REDUCTION_FACTOR})"
        if request.prune
        else "none"
    )
    runs.log_params(
        {
            "tune_family": record.family,
            "tune_study": record.name,
            "tune_storage": studies.redact(settings.resolved_study_storage),
            "tune_sampler": "optuna TPESampler",
            "tune_scheduler": scheduler,
            "tune_objective": "mean development-fold log loss",
        }
    )
    runs.log_dict(describe_space(space), "search_space.json")


def _tuner(
    request: TuneRequest,
    context: TrialContext,
    candles: pd.DataFrame,
    storage: Any,
    remaining: int,
    cluster: Cluster,
    settings: Settings,
    progress: Progress,
) -> tune.Tuner:
    """Build the Tuner: OptunaSearch over the study, ASHA, retries, one CPU per trial."""
    from optuna.samplers import TPESampler
    from ray.tune.schedulers import ASHAScheduler

    n_folds = context.config.walk_forward.n_folds
    finished = studies.count_finished(storage, context.study)
    searcher = StudySearch(
        optuna_distributions(request.space or search_space(context.family)),
        metric="log_loss",
        mode="min",
        sampler=TPESampler(seed=context.config.seed + finished),
        study_name=context.study,
        storage=storage,
    )
    scheduler = (
        ASHAScheduler(
            time_attr="training_iteration",
            metric="log_loss",
            mode="min",
            max_t=n_folds,
            grace_period=max(1, min(request.grace_folds, n_folds)),
            reduction_factor=REDUCTION_FACTOR,
        )
        if request.prune
        else None
    )
    concurrency = request.concurrency or max(1, cluster.cpus // request.cpus_per_trial)
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, context=context, candles=candles),
        {"cpu": request.cpus_per_trial},
    )
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
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


def trials_frame(frozen: list[Any]) -> pd.DataFrame:
    """One row per trial: number, state, log loss, last running mean, folds run, params."""
    rows = []
    for trial in frozen:
        steps = sorted(trial.intermediate_values)
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name.lower(),
                "log_loss": trial.value if trial.value is not None else float("nan"),
                "running_log_loss": trial.intermediate_values[steps[-1]] if steps else float("nan"),
                "folds": len(steps),
                **trial.params,
            }
        )
    return pd.DataFrame(rows)


def summarize(storage: Any, record: studies.StudyRecord, requested: int) -> TuneResult:
    """Read the study back: trial counts by state and the best complete trial."""
    study = studies.load(storage, record.name)
    frozen = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in frozen)
    complete = [t for t in frozen if t.state.name == "COMPLETE" and t.value is not None]
    best = None
    if complete:
        top = min(complete, key=lambda t: (t.value, t.number))
        best = {
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
    return TuneResult(
        study=record.name,
        storage=studies.redact(str(storage.url)),
        pair=record.pair,
        family=record.family,
        parent_run_id=record.parent_run_id,
        requested=requested,
        counts=dict(counts),
        best=best,
        trials=trials_frame(frozen),
    )


@dataclass(frozen=True)
class _Prepared:
    record: studies.StudyRecord | None
    config: RunConfig
    family: str
    space: SearchSpace
    candles: pd.DataFrame
    plan: HoldoutPlan
    rows: dict[str, str]


def _prepare(request: TuneRequest, storage: Any, settings: Settings) -> _Prepared:
    record, config, family = _resolve(request, storage)
    space = dict(request.space or search_space(family))
    check_space(family, space)
    candles = load_candles(config.pair, config.source, settings)
    plan, source = holdout_plan(candles, config, family, space, settings)
    rows = check_data(candles, config, family, space, plan)
    selected = select_candles(candles, config)
    record_rows = tuned_rows(config, selected, plan.start, source, rows.X.index[-1])
    return _Prepared(record, config, family, space, candles, plan, record_rows)


def run_tune(
    request: TuneRequest, settings: Settings | None = None, progress: Progress | None = None
) -> TuneResult:
    """Run (or resume) a hyperparameter search of one family for one pair.

    Raises:
        ConfigError: on an unknown family, a bad space, too few rows, or a name clash.
        StudyStorageError: if the study storage cannot be opened.
        StudyNotFoundError: on ``resume`` when there is no such study.
        ClusterUnavailableError: if the Ray cluster at ``address`` cannot be joined.
    """
    settings, report, started = (
        settings or get_settings(),
        progress or log.info,
        time.perf_counter(),
    )
    storage = studies.open_storage(settings.resolved_study_storage)
    prepared = _prepare(request, storage, settings)
    record, config, family, space = (
        prepared.record,
        prepared.config,
        prepared.family,
        prepared.space,
    )
    with runs.pair_run(
        config.pair,
        run_name=f"tune-{family}-{config.pair}",
        run_id=record.parent_run_id if record else None,
        tags={"kind": "tune", "family": family},
        settings=settings,
    ) as run:
        if record is None:
            record = studies.StudyRecord(
                request.study or studies.new_study_name(config.pair, family),
                config.pair,
                family,
                config,
                request.trials or DEFAULT_TRIALS,
                str(run.info.run_id),
            )
            studies.create_study(storage, record)
            _log_setup(record, space, request, settings)
        requested = request.trials or record.trials
        runs.set_tags(prepared.rows)
        _execute(request, record, space, prepared, storage, requested, settings, report)
        result = summarize(storage, record, requested)
        if result.best:
            # The rows the trials chose on and the holdout they respected (train checks them).
            result.best.update({**prepared.rows, "purge_window": prepared.plan.window})
            trial_runs.log_best_trial(result.best)
        runs.log_figures(tune_figures(result, space))
        runs.log_metrics({f"trials_{state}": n for state, n in result.counts.items()})
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


def _execute(
    request: TuneRequest,
    record: studies.StudyRecord,
    space: SearchSpace,
    prepared: _Prepared,
    storage: Any,
    requested: int,
    settings: Settings,
    progress: Progress,
) -> None:
    """Close what a dead driver left, then run the missing trials on Ray."""
    interrupted = studies.mark_interrupted(storage, record.name)
    client = trial_runs.client_for(settings.resolved_tracking_uri)
    trial_runs.end_interrupted(client, record.parent_run_id, interrupted)
    remaining = requested - studies.count_finished(storage, record.name)
    runs.set_tags({"study": record.name, "trials_requested": str(requested)})
    if remaining <= 0:
        progress(f"study {record.name} already holds {requested} finished trial(s)")
        return
    context = TrialContext(
        record.family,
        record.config,
        settings.resolved_tracking_uri,
        record.parent_run_id,
        record.name,
        record.pair,
        request.cpus_per_trial,
        str(request.crash_once_marker) if request.crash_once_marker else None,
        prepared.plan,
    )
    with ray_session(request.address) as cluster:
        _warn_if_unshared(cluster, settings)
        progress(f"study {record.name}: {remaining} trial(s) to run on {cluster.cpus} CPU(s)")
        tuner = _tuner(
            request, context, prepared.candles, storage, remaining, cluster, settings, progress
        )
        tuner.fit()


def _warn_if_unshared(cluster: Cluster, settings: Settings) -> None:
    if cluster.nodes > 1 and not runs.is_tracking_server(settings.resolved_tracking_uri):
        log.warning(
            "Ray has %d nodes but MLPKG_TRACKING_URI is %s: workers on other machines cannot "
            "write there. Point it at an MLflow tracking server (http://host:5000).",
            cluster.nodes,
            settings.resolved_tracking_uri,
        )


def tuned_params(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """The best trial recorded on a tune run (``best_trial.json``: family, params, ...).

    Raises:
        ConfigError: if the run is not a tune run or has no complete trial.
    """
    best = trial_runs.read_best_trial(run_id, settings)
    if not best or not best.get("params"):
        raise ConfigError(
            f"Run {run_id} has no best_trial.json: pass the run id `mlpkg tune` printed (its "
            "parent run), after at least one trial completed every fold."
        )
    return best


def apply_tuned_params(
    config: RunConfig, best: Mapping[str, Any], explicit: set[str] | frozenset[str] = frozenset()
) -> RunConfig:
    """Merge a tune's best params over a run config (``mlpkg train --params-from``).

    The tuned family becomes ``models`` unless ``models`` was given explicitly. A tuned value
    replaces an explicit option of the same name (logged), and a different pair or horizon
    than the tune's is logged too: the params were chosen for those.

    Raises:
        ConfigError: if the merged config is invalid.
    """
    params = dict(best["params"])
    overridden = sorted(name for name in params if name in explicit)
    if overridden:
        log.warning("--params-from replaces the options %s", ", ".join(overridden))
    for name in ("pair", "horizon"):
        if name in best and best[name] != getattr(config, name):
            log.warning(
                "the tuned params were chosen for %s=%s, this run has %s=%s",
                name,
                best[name],
                name,
                getattr(config, name),
            )
    if "models" not in explicit:
        params["models"] = (best["family"],)
    return RunConfig.from_flat(**{**config.to_flat(), **params})


def tune_figures(result: TuneResult, space: SearchSpace) -> dict[str, Figure]:
    """The search history and each parameter against the log loss (logged under ``plots/``)."""
    frame = result.trials
    history, ax = _figure(8, 4)
    if not frame.empty:
        done = frame[frame["state"] == "complete"]
        stopped = frame[frame["state"] == "pruned"]
        ax.plot(done["number"], done["log_loss"], "o", label="complete")
        ax.plot(stopped["number"], stopped["running_log_loss"], "x", label="pruned (running mean)")
        best = frame["log_loss"].cummin()
        ax.step(frame["number"], best, where="post", label="best so far")
        ax.legend()
    ax.set(
        xlabel="trial",
        ylabel="mean development-fold log loss",
        title=f"{result.pair} {result.family}: {result.study}",
    )
    figures = {"tune_history": history}
    names = [name for name in space if name in frame.columns]
    if names:
        figure = Figure(figsize=(4 * len(names), 3.5), layout="constrained")
        for axis, name in zip(figure.subplots(1, len(names), squeeze=False)[0], names, strict=True):
            done = frame[frame["state"] == "complete"]
            axis.plot(done[name], done["log_loss"], "o")
            if getattr(space[name], "log", False):
                axis.set_xscale("log")
            axis.set(xlabel=name, ylabel="log loss")
        figures["tune_params"] = figure
    return figures


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()
