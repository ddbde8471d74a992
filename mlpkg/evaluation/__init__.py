"""Evaluation (pure): walk-forward splits and runs, metrics, reports and plots."""

from mlpkg.evaluation.metrics import (
    classification_metrics,
    confidence_buckets,
    diebold_mariano,
    log_losses,
    strategy_returns,
    trade_returns,
)
from mlpkg.evaluation.report import WalkForwardReport, flat_metrics, format_report, summarize
from mlpkg.evaluation.splits import Fold, walk_forward_splits
from mlpkg.evaluation.walk_forward import run_walk_forward, timings_frame

__all__ = [
    "Fold",
    "WalkForwardReport",
    "classification_metrics",
    "confidence_buckets",
    "diebold_mariano",
    "flat_metrics",
    "format_report",
    "log_losses",
    "run_walk_forward",
    "strategy_returns",
    "summarize",
    "timings_frame",
    "trade_returns",
    "walk_forward_splits",
]
