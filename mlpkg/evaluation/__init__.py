"""Evaluation (pure): development folds and holdout, metrics, significance, selection, reports."""
