"""``run_tune``: prepare a study, run its missing trials on Ray, log the report to MLflow."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import optuna
import pandas as pd

from mlpkg.config import FAMILIES, RunConfig, Settings, get_settings
from mlpkg.data.sources import load_candles
from mlpkg.errors import ConfigError
from mlpkg.pipelines import studies
from mlpkg.pipelines.cluster import Cluster, ray_session
from mlpkg.pipelines.dataset import select_candles
from mlpkg.pipelines.ledger import holdout_start_for, tuned_rows
from mlpkg.pipelines.objective import (
    DevelopmentRows,
    HoldoutPlan,
    development_rows,
    trial_config,
)
from mlpkg.pipelines.search_spaces import (
    SearchSpace,
    check_space,
    describe_space,
    largest_window,
    search_space,
)
from mlpkg.pipelines.tune.report import log_report, summarize
from mlpkg.pipelines.tune.request import DEFAULT_TRIALS, TuneRequest, TuneResult
from mlpkg.pipelines.tune.search import REDUCTION_FACTOR, build_searcher, build_tuner
from mlpkg.pipelines.tune.trial import Trainable, TrialContext, run_trial
from mlpkg.progress import Progress, ProgressEvent, stage
from mlpkg.tracking import runs
from mlpkg.tracking import trials as trial_runs

log = logging.getLogger(__name__)


def _log_progress(event: ProgressEvent) -> None:
    log.info("%s", event.text)


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
    request: TuneRequest, storage: optuna.storages.RDBStorage
) -> tuple[studies.StudyRecord | None, RunConfig, str]:
    """The study to resume (None for a new one), the run config and the family."""
    if request.resume:
        record = studies.find_study(
            storage, name=request.study, pair=request.config.pair, family=request.family or None
        )
        return record, record.config, record.family
    if request.study and request.study in optuna.get_all_study_names(storage):
        raise ConfigError(
            f"Study {request.study!r} exists already: add --resume to continue it, or choose "
            "another --study name."
        )
    config = _base_config(request.config, request.family)
    return None, config, config.models[0]


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


@dataclass(frozen=True)
class _Prepared:
    record: studies.StudyRecord | None
    config: RunConfig
    family: str
    space: SearchSpace
    candles: pd.DataFrame
    plan: HoldoutPlan
    rows: dict[str, str]


def _prepare(
    request: TuneRequest, storage: optuna.storages.RDBStorage, settings: Settings
) -> _Prepared:
    record, config, family = _resolve(request, storage)
    space = dict(request.space or search_space(family))
    check_space(family, space)
    candles = load_candles(config.pair, config.source, settings)
    plan, source = holdout_plan(candles, config, family, space, settings)
    rows = check_data(candles, config, family, space, plan)
    selected = select_candles(candles, config)
    record_rows = tuned_rows(config, selected, plan.start, source, rows.X.index[-1])
    return _Prepared(record, config, family, space, candles, plan, record_rows)


@dataclass(frozen=True)
class _Execution:
    """How the missing trials run: the request, the trainable, the settings, the progress."""

    request: TuneRequest
    trainable: Trainable
    settings: Settings
    progress: Progress


def run_tune(
    request: TuneRequest,
    settings: Settings | None = None,
    progress: Progress | None = None,
    *,
    trainable: Trainable = run_trial,
) -> TuneResult:
    """Run (or resume) a hyperparameter search of one family for one pair.

    Args:
        request: What to tune and how.
        settings: Machine settings (default ``get_settings()``).
        progress: Called with a ``trial`` event per finished trial and ``stage`` events.
        trainable: What each Ray trial runs (default ``run_trial``; tests pass their own).

    Raises:
        ConfigError: on an unknown family, a bad space, too few rows, or a name clash.
        StudyStorageError: if the study storage cannot be opened.
        StudyNotFoundError: on ``resume`` when there is no such study.
        ClusterUnavailableError: if the Ray cluster at ``address`` cannot be joined.
    """
    settings, started = settings or get_settings(), time.perf_counter()
    execution = _Execution(request, trainable, settings, progress or _log_progress)
    storage = studies.open_storage(settings.resolved_study_storage)
    prepared = _prepare(request, storage, settings)
    record, config, family = prepared.record, prepared.config, prepared.family
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
            _log_setup(record, prepared.space, request, settings)
        requested = request.trials or record.trials
        runs.set_tags(prepared.rows)
        _execute(execution, record, prepared, storage, requested)
        result = summarize(storage, record, requested, prepared.space)
        if result.best:
            # The rows the trials chose on and the holdout they respected (train checks them).
            result.best.update({**prepared.rows, "purge_window": prepared.plan.window})
            trial_runs.log_best_trial(result.best)
        log_report(result)
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


def _execute(
    execution: _Execution,
    record: studies.StudyRecord,
    prepared: _Prepared,
    storage: optuna.storages.RDBStorage,
    requested: int,
) -> None:
    """Close what a dead driver left, then run the missing trials on Ray."""
    settings, progress = execution.settings, execution.progress
    interrupted = studies.mark_interrupted(storage, record.name)
    client = trial_runs.client_for(settings.resolved_tracking_uri)
    trial_runs.end_interrupted(client, record.parent_run_id, interrupted)
    remaining = requested - studies.count_finished(storage, record.name)
    runs.set_tags({"study": record.name, "trials_requested": str(requested)})
    if remaining <= 0:
        progress(stage(f"study {record.name} already holds {requested} finished trial(s)"))
        return
    context = TrialContext(
        record.family,
        record.config,
        settings.resolved_tracking_uri,
        record.parent_run_id,
        record.name,
        record.pair,
        execution.request.cpus_per_trial,
        prepared.plan,
    )
    searcher = build_searcher(prepared.space, context, storage)
    with ray_session(execution.request.address) as cluster:
        _warn_if_unshared(cluster, settings)
        progress(
            stage(f"study {record.name}: {remaining} trial(s) to run on {cluster.cpus} CPU(s)")
        )
        build_tuner(
            execution.request,
            searcher,
            execution.trainable,
            context,
            prepared.candles,
            remaining,
            cluster,
            settings,
            progress,
        ).fit()


def _warn_if_unshared(cluster: Cluster, settings: Settings) -> None:
    if cluster.nodes > 1 and not runs.is_tracking_server(settings.resolved_tracking_uri):
        log.warning(
            "Ray has %d nodes but MLPKG_TRACKING_URI is %s: workers on other machines cannot "
            "write there. Point it at an MLflow tracking server (http://host:5000).",
            cluster.nodes,
            settings.resolved_tracking_uri,
        )
