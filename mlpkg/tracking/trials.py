"""MLflow runs of a hyperparameter search: one parent run per tune, one child run per trial.

The parent is an ordinary pair run (``kind=tune``) opened by the tune's driver. Each trial is a
child run (tag ``mlflow.parentRunId``, so the MLflow UI nests it under the parent) created by
the Ray worker that runs the trial, with an explicit client on the tracking URI the driver
passed (``MLPKG_TRACKING_URI``; an MLflow tracking server when the workers are on other
machines). A child run holds the trial's sampled params, one ``fold<k>_log_loss`` metric per
development fold, the objective ``log_loss`` when every fold ran, and the outcome as the tag
``trial_state``: ``complete`` (FINISHED), ``pruned`` (KILLED: stopped early by the scheduler),
``failed`` (FAILED) or ``interrupted`` (KILLED: its driver died; the resumed tune re-runs it).

A trial retried after its worker died resumes its child run (found by parent and Optuna trial
number) and counts the attempt in the tag ``attempts``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import mlflow

from mlpkg.config import Settings, get_settings
from mlpkg.tracking.runs import owner_tags, read_run_json

log = logging.getLogger(__name__)

TRIAL_STATE_TAG = "trial_state"
TRIAL_NUMBER_TAG = "mlpkg.optuna_trial"
STUDY_TAG = "mlpkg.study"
ATTEMPTS_TAG = "attempts"
PARENT_TAG = "mlflow.parentRunId"
BEST_TRIAL_FILE = "best_trial.json"
OBJECTIVE_METRIC = "log_loss"
STATES: dict[str, str] = {
    "complete": "FINISHED",
    "pruned": "KILLED",
    "failed": "FAILED",
    "interrupted": "KILLED",
}
"""Trial state -> MLflow run status."""


def client_for(uri: str) -> mlflow.MlflowClient:
    """An MLflow client on a tracking URI (thread-safe; no global active run)."""
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def fold_metric(fold: int) -> str:
    """The metric name of a development fold's log loss (``fold0_log_loss``, ...)."""
    return f"fold{fold}_{OBJECTIVE_METRIC}"


def find_trial_run(client: mlflow.MlflowClient, parent_run_id: str, number: int) -> Any | None:
    """The child run of trial ``number`` under a parent run, if it exists."""
    parent = client.get_run(parent_run_id)
    query = f"tags.`{PARENT_TAG}` = '{parent_run_id}' and tags.`{TRIAL_NUMBER_TAG}` = '{number}'"
    found = client.search_runs([parent.info.experiment_id], query, max_results=1)
    return found[0] if found else None


def open_trial_run(
    client: mlflow.MlflowClient,
    parent_run_id: str,
    number: int,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
) -> str:
    """Create trial ``number``'s child run, or resume it on a retry; return its id."""
    existing = find_trial_run(client, parent_run_id, number)
    owner = owner_tags()
    if existing is not None:
        run_id = str(existing.info.run_id)
        attempts = int(existing.data.tags.get(ATTEMPTS_TAG, "1")) + 1
        client.update_run(run_id, status="RUNNING")
        resumed = {**owner, ATTEMPTS_TAG: str(attempts), TRIAL_STATE_TAG: "running"}
        for key, value in resumed.items():
            client.set_tag(run_id, key, value)
        log.info("trial %d: attempt %d resumes MLflow run %s", number, attempts, run_id)
        return run_id
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    all_tags = {
        **tags,
        **owner,
        PARENT_TAG: parent_run_id,
        TRIAL_NUMBER_TAG: str(number),
        ATTEMPTS_TAG: "1",
        TRIAL_STATE_TAG: "running",
    }
    run = client.create_run(experiment_id, run_name=f"trial-{number:03d}", tags=all_tags)
    run_id = str(run.info.run_id)
    client.log_batch(run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in params.items()])
    return run_id


def log_fold(client: mlflow.MlflowClient, run_id: str, fold: int, log_loss: float) -> None:
    """Log one development fold's log loss (``fold<k>_log_loss``, step ``k``)."""
    client.log_metric(run_id, fold_metric(fold), log_loss, step=fold)


def end_trial_run(
    client: mlflow.MlflowClient,
    run_id: str,
    state: str,
    *,
    log_loss: float | None = None,
    note: str = "",
) -> None:
    """Record a trial's outcome (tag ``trial_state``, objective, note) and end its run."""
    if log_loss is not None:
        client.log_metric(run_id, OBJECTIVE_METRIC, log_loss)
    client.set_tag(run_id, TRIAL_STATE_TAG, state)
    if note:
        client.set_tag(run_id, "note", note[:4000])
    client.set_terminated(run_id, STATES[state])


def end_interrupted(client: mlflow.MlflowClient, parent_run_id: str, numbers: list[int]) -> None:
    """End the child runs of trials a dead driver left behind (state ``interrupted``)."""
    for number in numbers:
        run = find_trial_run(client, parent_run_id, number)
        if run is not None and run.data.tags.get(TRIAL_STATE_TAG) not in STATES:
            note = "its tune driver died; the resumed tune runs a new trial in its place"
            end_trial_run(client, str(run.info.run_id), "interrupted", note=note)


def log_best_trial(best: Mapping[str, Any]) -> None:
    """Record the best trial on the active (parent) run: ``best_trial.json`` and metrics."""
    mlflow.log_dict(dict(best), BEST_TRIAL_FILE)
    if best.get("log_loss") is not None:
        mlflow.log_metric("best_log_loss", float(best["log_loss"]))
    mlflow.set_tag("best_trial", str(best.get("number")))


def read_best_trial(run_id: str, settings: Settings | None = None) -> dict[str, Any] | None:
    """The best trial recorded on a tune run (None when the run has none)."""
    from mlpkg.tracking.runs import configure_tracking

    configure_tracking(settings or get_settings())
    return read_run_json(run_id, BEST_TRIAL_FILE)
