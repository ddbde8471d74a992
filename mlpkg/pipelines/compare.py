"""Compare families and ensembles from what a training run logged (for notebook 30).

Everything is read back from MLflow, so a comparison can be made long after the run, on
another machine, or in the MLflow UI's artifacts: the development summary (fold and seed
spread), the out-of-fold predictions (reliability), the permutation importance, and the
holdout report with the promotion decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

from mlpkg.config import Settings, get_settings
from mlpkg.errors import ModelNotFoundError
from mlpkg.evaluation import plots
from mlpkg.tracking import runs


@dataclass(frozen=True)
class Comparison:
    """What one training run measured, per family and ensemble.

    Attributes:
        run_id: The training run.
        pair: Its pair.
        candidates: The families and ensembles it compared (``models``).
        summary: Development metrics per model: mean, fold std and seed std.
        predictions: Out-of-fold development predictions of the base seed.
        importance: Permutation importance, features x families (may be empty).
        holdout: The holdout report and promotion decision, as text ('' for an evaluate run).
        backtest: The signal policy's holdout backtest beside buy-and-hold, as text ('' when the
            run has none).
        backtest_frame: Its per-candle positions, returns, equity and drawdown (may be empty).
    """

    run_id: str
    pair: str
    candidates: tuple[str, ...]
    summary: pd.DataFrame
    predictions: pd.DataFrame
    importance: pd.DataFrame
    holdout: str
    backtest: str = ""
    backtest_frame: pd.DataFrame = field(default_factory=pd.DataFrame)


def latest_run_id(pair: str, kind: str = "train", settings: Settings | None = None) -> str:
    """The newest finished run of a kind (``train`` or ``evaluate``) in the pair's experiment.

    Raises:
        ModelNotFoundError: when the pair has no such run.
    """
    settings = settings or get_settings()
    runs.configure_tracking(settings)
    found = runs.latest_finished_run(pair, kind)
    if found is None:
        raise ModelNotFoundError(
            f"No finished {kind} run for {pair}: run `mlpkg train --pair {pair}` first."
        )
    return found


def _csv(run_id: str, name: str, index_col: int | None = None) -> pd.DataFrame:
    """The run's CSV artifact; empty when it does not exist (e.g. importance turned off)."""
    frame = runs.read_csv_artifact(run_id, name, index_col=index_col)
    return pd.DataFrame() if frame is None else frame


def load_comparison(pair: str, run_id: str = "", settings: Settings | None = None) -> Comparison:
    """Read a training (or evaluation) run's comparison of families back from MLflow.

    Args:
        pair: The pair (checked against the settings).
        run_id: The run to read; '' for the pair's newest finished training run.
        settings: Machine settings (tracking store).
    """
    settings = settings or get_settings()
    pair = settings.check_pair(pair)
    runs.configure_tracking(settings)
    run_id = run_id or latest_run_id(pair, settings=settings)
    config = runs.read_run_json(run_id, "config.json") or {}
    summary = _csv(run_id, "development_summary.csv", index_col=0)
    predictions = _csv(run_id, "development_predictions.csv")
    importance = _csv(run_id, "permutation_importance.csv", index_col=0)
    backtest_frame = _csv(run_id, "holdout_backtest.csv", index_col=0)
    if not predictions.empty:
        predictions["open_time"] = pd.to_datetime(predictions["open_time"], utc=True)
        predictions = predictions[predictions["seed"] == predictions["seed"].min()]
    holdout = runs.read_text_artifact(run_id, "holdout_report.txt") or ""  # none: an evaluate run
    # None: an evaluate run, or a training run from before signal policies.
    backtest = runs.read_text_artifact(run_id, "holdout_backtest.txt") or ""
    if not backtest_frame.empty:
        backtest_frame.index = pd.to_datetime(backtest_frame.index, utc=True)
    return Comparison(
        run_id=run_id,
        pair=pair,
        candidates=tuple(config.get("models", ())),
        summary=summary,
        predictions=predictions,
        importance=importance,
        holdout=holdout,
        backtest=backtest,
        backtest_frame=backtest_frame,
    )


def comparison_figures(comparison: Comparison) -> dict[str, Figure]:
    """Development log loss with fold/seed spread, reliability of every candidate, importance."""
    figures = {"log_loss": plots.plot_model_comparison(comparison.summary)}
    candidates = [c for c in comparison.candidates if c in set(comparison.predictions["model"])]
    if candidates:
        figures["reliability"] = plots.plot_reliability_curves(comparison.predictions, candidates)
    if not comparison.importance.empty:
        figures["importance"] = plots.plot_importance(comparison.importance)
    if not comparison.backtest_frame.empty:
        title = comparison.backtest.splitlines()[0] if comparison.backtest else "holdout backtest"
        figures["holdout_backtest"] = plots.plot_backtest(comparison.backtest_frame, title)
    return figures
