"""The trainable a Ray worker runs: one trial, fold by fold, in its MLflow child run.

``run_trial`` is what ``run_tune`` hands to Ray by default. A caller may pass its own
``Trainable`` (``run_tune(..., trainable=...)``): the tests wrap ``run_trial`` with one that
kills its worker once (``on_run_opened``) to prove a retried trial resumes its child run, so no
fault-injection switch lives in the public ``TuneRequest``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
from ray import tune

from mlpkg.config import RunConfig
from mlpkg.pipelines.cluster import limit_threads
from mlpkg.pipelines.objective import (
    DevelopmentRows,
    HoldoutPlan,
    development_rows,
    fold_scores,
    trial_config,
)
from mlpkg.tracking import trials as trial_runs

TRIAL_KEY = "mlpkg_trial"
"""Config key carrying the Optuna trial number to the worker (not a hyperparameter)."""


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
    holdout: HoldoutPlan | None = None


class Trainable(Protocol):
    """A Ray Tune function trainable with the tune's context and candles bound to it."""

    def __call__(
        self, params: dict[str, Any], *, context: TrialContext, candles: pd.DataFrame
    ) -> None:
        """Run one trial with the sampled ``params`` (and ``TRIAL_KEY``)."""


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


def run_trial(
    params: dict[str, Any],
    *,
    context: TrialContext,
    candles: pd.DataFrame,
    on_run_opened: Callable[[str], None] | None = None,
) -> None:
    """Score one trial fold by fold in a Ray worker, logging to its MLflow child run.

    Args:
        params: The sampled hyperparameters and ``TRIAL_KEY``.
        context: What the tune's trials share.
        candles: The pair's candles.
        on_run_opened: Called with the child run id once it is open (or found again on a
            retry), before any fit: a test trainable's hook.
    """
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
    if on_run_opened is not None:
        on_run_opened(run_id)
    try:
        config = trial_config(context.config, context.family, sampled)
        rows = development_rows(candles, config, context.holdout)
        client.set_tag(run_id, "rows_read_until", str(rows.X.index[-1]))
        client.set_tag(run_id, "holdout_first", str(rows.split.start_time))
        _score_folds(client, run_id, context.family, config, rows)
    except Exception as exc:
        trial_runs.end_trial_run(client, run_id, "failed", note=f"{type(exc).__name__}: {exc}")
        raise
