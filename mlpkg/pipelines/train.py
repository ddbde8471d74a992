"""Train a pair: walk-forward evaluation, final fit, MLflow logging, registration, promotion."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlpkg.config import RunConfig, Settings, get_settings
from mlpkg.evaluation import plots
from mlpkg.models.estimator import LSTMDirectionClassifier
from mlpkg.pipelines.dataset import PairDataset, prepare_dataset
from mlpkg.pipelines.evaluate import Evaluation, Progress, evaluate_dataset, log_evaluation
from mlpkg.tracking import registry, runs
from mlpkg.tracking.pyfunc import ModelBundle, log_bundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    run_id: str
    version: str
    decision: registry.PromotionDecision
    evaluation: Evaluation
    bundle: ModelBundle


def fit_final(dataset: PairDataset, config: RunConfig) -> ModelBundle:
    """Fit the LSTM on every labelled row (validation tail for early stopping)."""
    estimator = LSTMDirectionClassifier.from_config(
        config.model, seed=config.seed, purge=config.horizon
    )
    estimator.fit(dataset.X, dataset.y)
    return ModelBundle(estimator, config, dataset.warmup_rows, dataset.interval)


def register_and_promote(
    config: RunConfig, evaluation: Evaluation, model_uri: str, run_id: str
) -> tuple[str, registry.PromotionDecision]:
    """Register the run's model as candidate and move champion if the rule says so."""
    version = registry.register_version(config.pair, model_uri, run_id)
    summary = evaluation.report.summary
    metric = registry.PROMOTION_METRIC
    baselines = {m: float(summary.loc[m, metric]) for m in summary.index if m != "lstm"}
    champion = registry.alias_version(config.pair, registry.CHAMPION)
    decision = registry.decide_promotion(
        float(summary.loc["lstm", metric]),
        baselines,
        champion.log_loss_mean if champion else None,
    )
    runs.log_text(decision.reason, "promotion.txt")
    if decision.promote:
        registry.promote(config.pair, version)
    return version, decision


def train_pair(
    config: RunConfig,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Evaluate walk-forward, fit the final model, log everything and register it."""
    settings = settings or get_settings()
    dataset = prepare_dataset(config, settings)
    with runs.pair_run(
        config.pair,
        run_name=f"train-{config.pair}",
        run_id=run_id,
        tags={"kind": "train"},
        settings=settings,
    ) as run:
        evaluation = evaluate_dataset(dataset, config, progress)
        log_evaluation(evaluation, config)
        if progress:
            progress("final fit on all labelled rows")
        bundle = fit_final(dataset, config)
        runs.log_metrics(
            {
                "final_best_epoch": bundle.estimator.best_epoch_,
                "final_epochs_run": bundle.estimator.stopped_epoch_,
            }
        )
        runs.log_figures({"training_curves": plots.plot_training_curves(bundle.estimator.history_)})
        model_uri = log_bundle(bundle, list(runs.PIP_REQUIREMENTS))
        version, decision = register_and_promote(config, evaluation, model_uri, run.info.run_id)
    log.info("%s: registered version %s (%s)", config.pair, version, decision.reason)
    return TrainResult(str(run.info.run_id), version, decision, evaluation, bundle)
