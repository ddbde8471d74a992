"""Train a pair: development folds, the holdout scored once, the rule, final fit, registration.

1. Development (``mlpkg.pipelines.evaluate``): every candidate in ``models`` and every
   reference on walk-forward folds before the holdout; the lowest mean log loss is selected.
2. Holdout (``mlpkg.pipelines.holdout``): the pair's holdout (a clock-time period recorded in
   the ledger, ``mlpkg.tracking.ledger``, by the pair's first training run) is scored once by
   the selected candidate refit on the development period; the use is counted by time overlap
   with earlier scorings and paid for with alpha_k; the champion is re-scored on the same rows
   after a refit of its own procedure.
3. The promotion rule (``mlpkg.evaluation.promotion``) decides, each condition recorded.
4. The deployed model is refit on every labelled row with the budgets chosen on the folds,
   logged as a bundle, registered as ``candidate``, and made ``champion`` if the rule allows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from mlpkg.config import RunConfig, Settings
from mlpkg.evaluation import plots
from mlpkg.evaluation.drift import reference_distribution
from mlpkg.evaluation.promotion import (
    ChampionEvidence,
    PromotionDecision,
    best_naive,
    decide_promotion,
)
from mlpkg.evaluation.report import (
    HoldoutReport,
    flat_holdout_metrics,
    format_holdout,
    summarize_holdout,
)
from mlpkg.evaluation.selection import Procedure
from mlpkg.models.baselines import NAIVE_BASELINES
from mlpkg.pipelines.evaluate import Development, development_run
from mlpkg.pipelines.holdout import fit_final, rescore_champion, score_holdout
from mlpkg.pipelines.signals import POLICY_META, trade_signals
from mlpkg.progress import Progress, cannot_stop, emit, raise_if_stopped, stage
from mlpkg.tracking import challengers, ledger, registry, runs
from mlpkg.tracking.bundle import ModelBundle, log_bundle

log = logging.getLogger(__name__)

FINAL_STAGE = "final fit on every labelled row"
"""The last stage of ``train_pair``: from there on it cannot be stopped (``cannot_stop``)."""


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    run_id: str
    version: str
    decision: PromotionDecision
    development: Development
    holdout: HoldoutReport
    bundle: ModelBundle
    signals: str = ""

    @property
    def text(self) -> str:
        """The development report, the holdout report, then the signal policy and backtest."""
        text = f"{self.development.text}\n\n{format_holdout(self.holdout)}"
        return f"{text}\n\n{self.signals}" if self.signals else text


def champion_evidence(
    config: RunConfig, development: Development, holdout: pd.DataFrame
) -> ChampionEvidence | None:
    """Re-score the current champion on this holdout (None when the pair has no champion)."""
    champion = registry.alias_version(config.model_key, registry.CHAMPION)
    if champion is None:
        return None
    procedure_json = runs.read_run_json(champion.run_id, "procedure.json")
    config_json = runs.read_run_json(champion.run_id, "config.json")
    try:
        procedure = Procedure.from_dict(procedure_json) if procedure_json else None
        theirs = RunConfig.model_validate(config_json) if config_json else None
    except (KeyError, TypeError, ValueError) as exc:
        return ChampionEvidence(champion.version, note=f"its recorded procedure is invalid: {exc}")
    return rescore_champion(champion.version, procedure, theirs, config, development, holdout)


def run_holdout(
    config: RunConfig, development: Development, progress: Progress | None = None
) -> HoldoutReport:
    """Score the selected candidate on the holdout once, count the use, apply the rule.

    The use is counted by time overlap with every earlier scoring of this pair's holdout rows
    (``mlpkg.tracking.ledger``), and the rule's DM level is alpha_k for that use k. The ledger
    records that a decision has read every candle of this run.
    """
    raise_if_stopped("the holdout refit")
    emit(progress, stage(f"holdout: refit {development.procedure.name} on the development period"))
    holdout = score_holdout(development, config)
    candidate = development.procedure.name
    scored = holdout.loc[holdout["model"] == candidate, "open_time"]
    uses, earlier = ledger.record_use(config.pair, candidate, scored.min(), scored.max())
    ledger.record_seen(config.pair, development.dataset.candles.index[-1])
    if earlier:
        log.info(
            "%s: this holdout was scored before by %s (use %d)",
            config.pair,
            ", ".join(f"{use.candidate} ({use.run_id[:8]})" for use in earlier),
            uses,
        )
    baseline = best_naive(development.base_predictions, NAIVE_BASELINES)
    evidence = champion_evidence(config, development, holdout)
    decision = decide_promotion(
        holdout,
        candidate,
        baseline=baseline,
        horizon=config.horizon,
        champion=evidence,
        use=uses,
    )
    report = summarize_holdout(
        holdout,
        candidate,
        decision,
        uses=uses,
        baseline=baseline,
        fee_bps=config.walk_forward.fee_bps,
        horizon=config.horizon,
    )
    runs.log_metrics(flat_holdout_metrics(report))
    runs.log_text(format_holdout(report), "holdout_report.txt")
    runs.log_text("\n".join([decision.reason, *decision.lines()]), "promotion.txt")
    runs.log_frame(holdout, "holdout_predictions")
    runs.log_frame(report.buckets, "holdout_confidence_buckets")
    report.extra["predictions"] = holdout  # the signal policy's backtest reads them
    return report


def final_bundle(config: RunConfig, development: Development) -> ModelBundle:
    """Refit the selected procedure on every labelled row and wrap it for serving."""
    dataset = development.dataset
    members, seen = fit_final(development.procedure, config, dataset)
    runs.log_dict(dict(seen), "final_fit.json")
    for name, member in members.items():
        history = getattr(member, "history_", None)
        if history:
            runs.log_figures({f"training_curves_{name}": plots.plot_training_curves(history)})
    scores = development.selection.scores
    # Per-member development log loss: the server's ``?ensemble=false`` answers the best member.
    member_scores = {m: float(scores[m]) for m in development.procedure.members if m in scores}
    return ModelBundle(
        members,
        development.procedure,
        config,
        dataset.warmup_rows,
        dataset.interval,
        dict(seen),
        extra={
            "member_scores": member_scores,
            # The drift reference: each feature's deciles on the rows the final fit saw.
            "drift_reference": reference_distribution(dataset.X.loc[dataset.labelled]),
        },
    )


def train_pair(
    config: RunConfig,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
    as_challenger: bool = False,
) -> TrainResult:
    """Develop, select, score the holdout once, decide, refit on all rows and register.

    With ``as_challenger`` (the server's periodic and drift retrains) the offline rule decides
    nothing: the version becomes the pair's ``challenger`` (replacing a pending one), promoted
    later only on live shadow outcomes (``mlpkg.serving.challenge``).
    """
    with development_run("train", config, settings, run_id=run_id, progress=progress) as developed:
        development, train_run_id = developed
        holdout = run_holdout(config, development, progress)
        raise_if_stopped(FINAL_STAGE)
        emit(progress, stage(FINAL_STAGE))
        with cannot_stop():  # a version is never half-registered
            version = _finish(config, development, holdout, train_run_id, as_challenger)
    log.info(
        "%s: registered version %s (%s)",
        config.model_key,
        version.version,
        holdout.decision.reason,
    )
    return TrainResult(
        train_run_id,
        version.version,
        holdout.decision,
        development,
        holdout,
        version.bundle,
        version.signals,
    )


@dataclass(frozen=True)
class _Registered:
    version: str
    bundle: ModelBundle
    signals: str


def _finish(
    config: RunConfig,
    development: Development,
    holdout: HoldoutReport,
    train_run_id: str,
    as_challenger: bool,
) -> _Registered:
    """Refit on every labelled row, log the bundle, register it and move the aliases."""
    bundle = final_bundle(config, development)
    policy, signals = trade_signals(config, development, holdout.extra.get("predictions"))
    bundle.extra[POLICY_META] = policy.as_dict()
    example = development.dataset.X.iloc[-(bundle.context_rows + 3) :]
    model_uri = log_bundle(bundle, list(runs.PIP_REQUIREMENTS), example)
    version = registry.register_version(
        config.model_key,
        model_uri,
        train_run_id,
        candidate=bundle.candidate,
        decision=holdout.decision,
        dev_log_loss=development.selection.scores[bundle.candidate],
        holdout_log_loss=float(holdout.metrics.loc[bundle.candidate, "log_loss"]),
        dev_accuracy=float(development.report.summary.loc[bundle.candidate, "accuracy_mean"]),
    )
    if as_challenger:
        last = development.dataset.candles.index[-1]
        challengers.register_challenger(
            config.model_key, version, data_end=last.isoformat(), reason=holdout.decision.reason
        )
    elif holdout.decision.promote:
        registry.promote(config.model_key, version)
    return _Registered(version, bundle, signals)
