"""Walk-forward evaluation of the LSTM beside its baselines, logged to MLflow."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.data.sources import candles_checksum, describe_candles
from mlpkg.evaluation import plots
from mlpkg.evaluation.report import WalkForwardReport, flat_metrics, format_report, summarize
from mlpkg.evaluation.splits import walk_forward_splits
from mlpkg.evaluation.walk_forward import run_walk_forward
from mlpkg.models.baselines import default_baselines
from mlpkg.models.estimator import DirectionEstimator, LSTMDirectionClassifier
from mlpkg.pipelines.dataset import PairDataset, prepare_dataset
from mlpkg.tracking import runs

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Evaluation:
    """The outcome of a walk-forward evaluation."""

    dataset: PairDataset
    predictions: pd.DataFrame
    report: WalkForwardReport
    text: str


def model_factories(config: RunConfig) -> dict[str, Callable[[], DirectionEstimator]]:
    """The LSTM and every baseline, evaluated on the same folds."""
    return {
        "lstm": lambda: LSTMDirectionClassifier.from_config(
            config.model, seed=config.seed, purge=config.horizon
        ),
        **default_baselines(config.horizon),
    }


def evaluate_dataset(
    dataset: PairDataset, config: RunConfig, progress: Progress | None = None
) -> Evaluation:
    """Run walk-forward folds over the dataset and summarise model vs baselines (no I/O)."""
    folds = walk_forward_splits(
        len(dataset.X), config.walk_forward, horizon=config.horizon, window=config.model.window
    )
    predictions = run_walk_forward(
        dataset.X,
        dataset.y,
        dataset.future_returns,
        model_factories(config),
        folds,
        progress=progress,
    )
    report = summarize(predictions, fee_bps=config.walk_forward.fee_bps, horizon=config.horizon)
    return Evaluation(dataset, predictions, report, format_report(report))


def evaluation_figures(evaluation: Evaluation, config: RunConfig) -> dict[str, Figure]:
    """The plots every evaluation run logs."""
    preds = evaluation.predictions
    return {
        "reliability_lstm": plots.plot_reliability(preds, "lstm"),
        "confusion_lstm": plots.plot_confusion(preds, "lstm"),
        "equity": plots.plot_equity(preds, config.walk_forward.fee_bps, config.horizon),
    }


def log_evaluation(evaluation: Evaluation, config: RunConfig) -> None:
    """Log config, data identity, metrics, report and plots to the active MLflow run."""
    runs.log_run_config(config)
    runs.log_data_info(
        describe_candles(evaluation.dataset.candles), candles_checksum(evaluation.dataset.candles)
    )
    runs.log_metrics(flat_metrics(evaluation.report))
    runs.log_text(evaluation.text, "walk_forward_report.txt")
    runs.log_frame(evaluation.report.per_fold, "metrics_per_fold")
    runs.log_frame(evaluation.predictions, "walk_forward_predictions")
    runs.log_figures(evaluation_figures(evaluation, config))


def evaluate_pair(
    config: RunConfig,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> tuple[Evaluation, str]:
    """Evaluate a pair walk-forward and log the run (no model is registered)."""
    settings = settings or get_settings()
    dataset = prepare_dataset(config, settings)
    with runs.pair_run(
        config.pair,
        run_name=f"evaluate-{config.pair}",
        run_id=run_id,
        tags={"kind": "evaluate"},
        settings=settings,
    ) as run:
        evaluation = evaluate_dataset(dataset, config, progress)
        log_evaluation(evaluation, config)
    return evaluation, str(run.info.run_id)
