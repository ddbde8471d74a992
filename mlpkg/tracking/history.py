"""What a registered version's training run recorded that the live service reads back.

- ``walk_forward_accuracy``: the version's development-fold accuracy (its ``dev_accuracy`` tag,
  else the run's ``dev_<candidate>_accuracy_mean`` metric, read once per run).
- ``out_of_sample``: the version's out-of-sample probabilities per candle, for backtesters: the
  development folds (``development_predictions.csv``, base seed, the selected candidate) and
  the holdout (``holdout_predictions.csv``). Every row was made by a model fitted only on
  candles before it (``trained_through`` < ``open_time``; rows that are not are dropped). The
  served final model, refitted on every row, is not among them.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import pandas as pd

from mlpkg.errors import OutOfSampleNotFoundError
from mlpkg.tracking.connection import mlflow_module
from mlpkg.tracking.registry import VersionInfo

log = logging.getLogger(__name__)

DEVELOPMENT_FILE = "development_predictions.csv"
HOLDOUT_FILE = "holdout_predictions.csv"
OUT_OF_SAMPLE_COLUMNS = ("open_time", "probability", "period", "fold", "trained_through", "y_true")


def walk_forward_accuracy(info: VersionInfo) -> float | None:
    """The version's mean development-fold accuracy (``None`` when it cannot be known)."""
    if info.dev_accuracy is not None:
        return info.dev_accuracy
    if not info.run_id:
        return None
    return _run_accuracy(info.run_id, info.candidate)


@lru_cache(maxsize=64)
def _run_accuracy(run_id: str, candidate: str) -> float | None:
    from mlflow.exceptions import MlflowException  # MLflow only when the tag is missing

    from mlpkg.tracking.runs import is_missing

    try:
        run = mlflow_module().MlflowClient().get_run(run_id)
    except MlflowException as exc:
        if not is_missing(exc):
            raise
        log.warning("run %s does not exist: its walk-forward accuracy is unknown", run_id)
        return None
    name = candidate or str(run.data.tags.get("candidate", ""))
    value = run.data.metrics.get(f"dev_{name}_accuracy_mean")
    return float(value) if value is not None and math.isfinite(value) else None


def select_out_of_sample(
    development: pd.DataFrame,
    holdout: pd.DataFrame | None,
    candidate: str,
    dev_end: pd.Timestamp | None,
) -> pd.DataFrame:
    """The candidate's out-of-sample rows: base seed of the folds, then the holdout (pure).

    Args:
        development: ``development_predictions.csv`` (``fold, seed, cutoff, open_time, model,
            proba_up, y_true``).
        holdout: ``holdout_predictions.csv`` (``model, open_time, proba_up, y_true``), if any.
        candidate: The selected family or ensemble (the version's ``candidate`` tag).
        dev_end: The last development row (the holdout model was trained through it).

    Returns:
        One row per candle, oldest first, with ``OUT_OF_SAMPLE_COLUMNS``; ``period`` is
        ``development`` or ``holdout``. Rows not strictly after ``trained_through`` are dropped.
    """
    dev = development[development["model"] == candidate]
    dev = dev[dev["seed"] == dev["seed"].min()]
    frames = [
        pd.DataFrame(
            {
                "open_time": _utc(dev["open_time"]),
                "probability": dev["proba_up"].astype("float64"),
                "period": "development",
                "fold": dev["fold"].astype("Int64"),
                "trained_through": _utc(dev["cutoff"]),
                "y_true": dev["y_true"].astype("float64"),
            }
        )
    ]
    if holdout is not None and dev_end is not None:
        rows = holdout[holdout["model"] == candidate]
        frames.append(
            pd.DataFrame(
                {
                    "open_time": _utc(rows["open_time"]),
                    "probability": rows["proba_up"].astype("float64"),
                    "period": "holdout",
                    "fold": pd.array([None] * len(rows), dtype="Int64"),
                    "trained_through": pd.Series(dev_end, index=rows.index),
                    "y_true": rows["y_true"].astype("float64"),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    table = table[table["trained_through"] < table["open_time"]]
    table = table.sort_values(["open_time", "period"]).drop_duplicates("open_time", keep="first")
    return table.reset_index(drop=True)[list(OUT_OF_SAMPLE_COLUMNS)]


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601")


def out_of_sample(info: VersionInfo) -> pd.DataFrame:
    """Read a version's out-of-sample predictions from its MLflow run (see the module docs).

    Raises:
        OutOfSampleNotFoundError: when the version has no run, or its run no development
            predictions.
    """
    if not info.run_id:
        raise OutOfSampleNotFoundError(
            f"Version {info.version} has no training run: its out-of-sample predictions are "
            "unknown. Train the pair with `mlpkg train` to get a version that has them."
        )
    run = mlflow_module().MlflowClient().get_run(info.run_id)
    candidate = info.candidate or str(run.data.tags.get("candidate", ""))
    development = _read_frame(info.run_id, DEVELOPMENT_FILE)
    if development is None or not candidate:
        raise OutOfSampleNotFoundError(
            f"Run {info.run_id} of version {info.version} has no {DEVELOPMENT_FILE} (or no "
            "candidate tag): retrain the pair to get out-of-sample predictions."
        )
    dev_end = run.data.params.get("dev_end")
    end = pd.Timestamp(dev_end) if dev_end and dev_end != "None" else None
    if end is not None and end.tzinfo is None:
        end = end.tz_localize("UTC")
    return select_out_of_sample(development, _read_frame(info.run_id, HOLDOUT_FILE), candidate, end)


def _read_frame(run_id: str, name: str) -> pd.DataFrame | None:
    from mlpkg.tracking.runs import read_csv_artifact  # imports MLflow

    frame = read_csv_artifact(run_id, name, index_col=0)
    if frame is None:
        log.info("run %s has no %s", run_id, name)
    return frame
