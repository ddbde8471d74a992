"""The development period: walk-forward folds of every candidate beside the references.

``evaluate_development`` never reads the holdout: the folds lie inside the development period
(everything before the holdout and its purge gap), so exploring with ``mlpkg evaluate`` or the
evaluation notebook never spends the holdout. ``mlpkg train`` adds the holdout afterwards
(``mlpkg.pipelines.holdout``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.data.calendars import calendar_of
from mlpkg.evaluation.importance import permutation_importance
from mlpkg.evaluation.report import (
    DevelopmentReport,
    flat_development_metrics,
    format_development,
    summarize_development,
)
from mlpkg.evaluation.selection import (
    Procedure,
    Selection,
    add_ensembles,
    choose_candidate,
    final_weights,
    median_budget,
    weighted_members,
)
from mlpkg.evaluation.splits import (
    Fold,
    HoldoutSplit,
    configured_holdout_start,
    holdout_split,
    walk_forward_splits,
)
from mlpkg.evaluation.walk_forward import (
    FitResult,
    ModelSpec,
    fits_frame,
    run_walk_forward,
)
from mlpkg.models import DirectionEstimator
from mlpkg.models.baselines import REFERENCE_BASELINE, naive_baselines
from mlpkg.models.families import is_seeded, make_estimator
from mlpkg.pipelines.dataset import PairDataset, prepare_dataset
from mlpkg.pipelines.ledger import fix_holdout, holdout_start_for
from mlpkg.progress import Progress
from mlpkg.tracking import runs

if TYPE_CHECKING:  # matplotlib loads with the plots only: a tune's trial workers draw none
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Development:
    """The outcome of the development period.

    Attributes:
        dataset: The pair's dataset (every row; the holdout is only located, never read).
        split: Where the development period ends and the holdout starts.
        folds: The walk-forward folds inside the development period.
        predictions: Out-of-fold predictions of candidates (ensembles included) and references,
            one row per (fold, seed, model, scored row).
        fits: One record per fit (seconds, rows, stopping point).
        selection: The chosen candidate and every candidate's score.
        procedure: How to refit the chosen candidate (members, weights, training budgets).
        report: The development report; ``text`` is its printable form.
        importance: Permutation importance (increase in log loss) per feature (rows) and
            family (columns), on the last development fold; empty when turned off.
    """

    dataset: PairDataset
    split: HoldoutSplit
    folds: list[Fold]
    predictions: pd.DataFrame
    fits: pd.DataFrame
    selection: Selection
    procedure: Procedure
    report: DevelopmentReport
    text: str
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def base_predictions(self) -> pd.DataFrame:
        """The predictions of the base seed (one row per fold, model and scored row)."""
        return self.predictions[self.predictions["seed"] == self.predictions["seed"].min()]


def seeds_of(config: RunConfig) -> list[int]:
    """The seeds of a run: ``seed, seed + 1, ..., seed + n_seeds - 1`` (the first is the base)."""
    return [config.seed + i for i in range(config.n_seeds)]


def family_spec(family: str, config: RunConfig) -> ModelSpec:
    """How to build a family's estimator for a fold (seeded when its fit depends on the seed)."""
    return ModelSpec(
        lambda seed: make_estimator(family, config, seed=seed),
        seeded=is_seeded(family),
    )


def _unseeded(factory: Callable[[], DirectionEstimator]) -> Callable[[int], DirectionEstimator]:
    """A factory that ignores the seed (the naive baselines do not depend on one)."""
    return lambda seed: factory()


def model_specs(config: RunConfig) -> dict[str, ModelSpec]:
    """Every family in ``models`` and every reference (naive baselines and logistic)."""
    specs = {family: family_spec(family, config) for family in config.families}
    for name, factory in naive_baselines(config.horizon).items():
        specs[name] = ModelSpec(_unseeded(factory))
    if REFERENCE_BASELINE not in specs:
        specs[REFERENCE_BASELINE] = family_spec(REFERENCE_BASELINE, config)
    return specs


def expected_fits(config: RunConfig) -> int:
    """How many fits the development folds of ``config`` make (for progress bars)."""
    seeds = len(seeds_of(config))
    per_fold = sum(seeds if spec.seeded else 1 for spec in model_specs(config).values())
    return per_fold * config.walk_forward.n_folds


def procedure_for(
    name: str, config: RunConfig, predictions: pd.DataFrame, fits: pd.DataFrame
) -> Procedure:
    """The refit recipe of a candidate chosen on the development folds."""
    if name == "weighted":
        members = tuple(weighted_members(config.families))
    elif name == "stacked":
        members = config.families
    else:
        members = (name,)
    budgets = {
        member: median_budget(fits, member, make_estimator(member, config).budget_param)
        for member in members
    }
    weights = final_weights(predictions, name, list(config.families), config.seed)
    return Procedure(name=name, members=members, weights=weights, budgets=budgets)


def development_split(
    dataset: PairDataset,
    config: RunConfig,
    holdout_start: pd.Timestamp | None = None,
    *,
    window: int | None = None,
    require_holdout: bool = True,
) -> tuple[HoldoutSplit, list[Fold]]:
    """Locate the holdout and build the development folds before it.

    Args:
        dataset: The pair's dataset.
        config: The run config.
        holdout_start: The holdout's start (the pair's ledger entry); None places it from the
            candle times alone (``default_holdout_start``), as the first training run would.
        window: The largest window any candidate of the run may use (a tune's upper bound);
            default the widest window of ``config``'s families. The purge is ``h + window``.
        require_holdout: False when the holdout will not be scored (``evaluate``, ``tune``).
    """
    if holdout_start is None:
        times = pd.DatetimeIndex(dataset.candles.index)
        holdout_start = configured_holdout_start(times, config.holdout)
    split = holdout_split(
        dataset.X.index,
        dataset.labelled,
        holdout_start,
        horizon=config.horizon,
        window=window or dataset.context_rows + 1,
        interval=dataset.interval,
        blocks=config.holdout.holdout_blocks,
        require_holdout=require_holdout,
        calendar=calendar_of(config.features),
    )
    folds = walk_forward_splits(
        split.dev_end,
        config.walk_forward,
        horizon=config.horizon,
        window=dataset.context_rows + 1,
    )
    return split, folds


def evaluate_development(
    dataset: PairDataset,
    config: RunConfig,
    progress: Progress | None = None,
    *,
    holdout_start: pd.Timestamp | None = None,
    require_holdout: bool = True,
) -> Development:
    """Run every candidate and reference on the development folds and select (no I/O).

    Args:
        dataset: The pair's dataset.
        config: The run config.
        progress: Called with a ``fit`` event per fit.
        holdout_start: The pair's recorded holdout start (None: ``configured_holdout_start``).
        require_holdout: False when the holdout will not be scored (``evaluate``).
    """
    split, folds = development_split(
        dataset, config, holdout_start, require_holdout=require_holdout
    )
    last: dict[str, FitResult] = {}

    def keep_last_fold(fold: Fold, result: FitResult) -> None:
        if fold.index == folds[-1].index and result.record["seed"] == config.seed:
            last[str(result.record["model"])] = result

    predictions = run_walk_forward(
        dataset.X,
        dataset.y,
        dataset.future_returns,
        model_specs(config),
        folds,
        seeds=seeds_of(config),
        progress=progress,
        on_fit=keep_last_fold,
    )
    fits = fits_frame(predictions)
    importance = family_importance(dataset, config, folds[-1], last)
    purge = folds[0].purge * dataset.interval
    predictions, stacked = add_ensembles(
        predictions, config.ensembles, list(config.families), purge=purge
    )
    selection = choose_candidate(predictions, config.models, stacked)
    report = summarize_development(
        predictions,
        selection,
        candidates=config.models,
        fee_bps=config.walk_forward.fee_bps,
        horizon=config.horizon,
        base_seed=config.seed,
    )
    procedure = procedure_for(selection.chosen, config, predictions, fits)
    text = (
        f"{format_development(report)}\nHoldout (never read here): starts "
        f"{split.start_time}; development rows end before {split.dev_end_time} "
        f"(purge {split.purge} candles)."
    )
    return Development(
        dataset, split, folds, predictions, fits, selection, procedure, report, text, importance
    )


def family_importance(
    dataset: PairDataset, config: RunConfig, fold: Fold, fitted: dict[str, FitResult]
) -> pd.DataFrame:
    """Permutation importance of each family on the last development fold (features x family)."""
    if config.importance_rows == 0:
        return pd.DataFrame()
    scored = (fold.test_start, fold.test_end)
    columns = {}
    for family in config.families:
        if family in fitted:
            columns[family] = permutation_importance(
                fitted[family].model,
                dataset.X,
                dataset.y,
                scored,
                seed=config.seed,
                rows=config.importance_rows,
            )
    frame = pd.DataFrame(columns)
    return frame.loc[frame.max(axis=1).sort_values(ascending=False).index]


def development_figures(development: Development, config: RunConfig) -> dict[str, Figure]:
    """The plots every development run logs (base seed)."""
    from mlpkg.evaluation import plots

    preds = development.base_predictions
    chosen = development.selection.chosen
    figures = {
        f"dev_reliability_{chosen}": plots.plot_reliability(preds, chosen),
        f"dev_confusion_{chosen}": plots.plot_confusion(preds, chosen),
        "dev_equity": plots.plot_equity(preds, config.walk_forward.fee_bps, config.horizon),
    }
    if not development.importance.empty:
        figures["dev_permutation_importance"] = plots.plot_importance(development.importance)
    return figures


def log_development(development: Development, config: RunConfig) -> None:
    """Log config, data identity, development metrics, report, tables and plots to the run."""
    dataset = development.dataset
    runs.log_run_config(config)
    runs.log_dataset_info(dataset, development.split)
    runs.log_metrics(flat_development_metrics(development.report))
    runs.log_text(development.text, "development_report.txt")
    runs.log_frame(development.report.summary, "development_summary")
    runs.log_frame(development.report.per_fold, "development_metrics_per_fold")
    runs.log_frame(development.report.buckets, "development_confidence_buckets")
    runs.log_frame(development.predictions, "development_predictions")
    runs.log_frame(development.fits, "development_fits")
    if not development.importance.empty:
        runs.log_frame(development.importance, "permutation_importance")
    runs.log_dict(development.procedure.as_dict(), "procedure.json")
    runs.set_tags({"candidate": development.selection.chosen})
    runs.log_figures(development_figures(development, config))


@contextmanager
def development_run(
    kind: str,
    config: RunConfig,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[Development, str]]:
    """Load the pair's dataset, open its run and develop it there; yield the outcome and run id.

    The one way ``train`` and ``evaluate`` open a pair's run: named ``<kind>-<PAIR>`` and tagged
    ``kind`` (or the run ``run_id``, which a notebook kernel joins), with the development period
    evaluated and logged to it before the caller adds its own steps inside the ``with``.

    Args:
        kind: What the run does (``train``, ``evaluate``).
        config: The run config.
        settings: Machine settings (default ``get_settings()``).
        run_id: Resume this run instead of starting a new one.
        progress: Called with a ``fit`` event per fit.
    """
    settings = settings or get_settings()
    dataset = prepare_dataset(config, settings)
    start, source = holdout_start_for(config, dataset.candles, settings)
    with runs.pair_run(
        config.pair,
        run_name=f"{kind}-{config.pair}",
        run_id=run_id,
        tags={"kind": kind},
        settings=settings,
    ) as run:
        development = evaluate_development(
            dataset, config, progress, holdout_start=start, require_holdout=kind == "train"
        )
        log_development(development, config)
        runs.set_tags({"holdout_source": source})
        if kind == "train":
            fix_holdout(config.pair, start, source, settings)
        yield development, str(run.info.run_id)


def evaluate_pair(
    config: RunConfig,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> tuple[Development, str]:
    """Evaluate a pair on the development folds and log the run (no holdout, no registration)."""
    with development_run("evaluate", config, settings, run_id=run_id, progress=progress) as done:
        return done
