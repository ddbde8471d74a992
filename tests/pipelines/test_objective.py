"""The tuning objective: what `mlpkg evaluate` scores, fold by fold, and never the holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpkg.config import RunConfig
from mlpkg.pipelines.dataset import build_dataset
from mlpkg.pipelines.evaluate import evaluate_development
from mlpkg.pipelines.objective import development_rows, fold_scores, trial_config

BASE = RunConfig.from_flat(pair="BTC", max_rows=1500, n_folds=3, lightgbm_n_estimators=40)


@pytest.fixture(scope="module")
def candles(btc_full) -> pd.DataFrame:
    return btc_full.iloc[-1500:].copy()


def _scores(family, config, candles):
    return list(fold_scores(family, config, development_rows(candles, config)))


def _poison(candles: pd.DataFrame, start: pd.Timestamp, seed: int = 7) -> pd.DataFrame:
    """Scramble every candle from ``start`` on (still valid OHLCV: one factor per row)."""
    poisoned = candles.copy()
    later = poisoned.index >= start
    factor = np.random.default_rng(seed).uniform(0.5, 2.0, size=int(later.sum()))
    for column in ("open", "high", "low", "close"):
        poisoned.loc[later, column] = poisoned.loc[later, column].to_numpy() * factor
    poisoned.loc[later, "volume"] = poisoned.loc[later, "volume"].to_numpy()[::-1]
    return poisoned


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("logistic", {"logistic_c": 0.05}),
        ("lightgbm", {"lightgbm_num_leaves": 8, "lightgbm_window": 8}),
    ],
)
def test_the_objective_is_the_mean_development_log_loss_evaluate_reports(candles, family, params):
    config = trial_config(BASE, family, params)
    assert config.models == (family,)
    scores = _scores(family, config, candles)
    assert [s.fold for s in scores] == [0, 1, 2]
    assert [s.done for s in scores] == [1, 2, 3] and scores[-1].final
    assert scores[1].running_mean == pytest.approx(np.mean([s.log_loss for s in scores[:2]]))
    development = evaluate_development(build_dataset(candles, config), config)
    assert scores[-1].running_mean == pytest.approx(development.selection.scores[family], 1e-12)


def test_trials_read_no_row_of_the_holdout_or_its_purge_gap(candles):
    config = trial_config(BASE, "logistic", {})
    rows = development_rows(candles, config)
    assert len(rows.X) == len(rows.y) == rows.split.dev_end
    assert rows.X.index[-1] < rows.split.dev_end_time <= rows.split.start_time
    assert all(fold.test_end <= len(rows.X) for fold in rows.folds)


def test_changing_every_holdout_candle_changes_no_trial_score(candles):
    config = trial_config(BASE, "lightgbm", {"lightgbm_window": 8})
    split = development_rows(candles, config).split
    clean = [s.log_loss for s in _scores("lightgbm", config, candles)]
    poisoned = [s.log_loss for s in _scores("lightgbm", config, _poison(candles, split.start_time))]
    assert poisoned == clean


def test_the_poison_check_has_teeth_a_development_candle_changes_the_score(candles):
    config = trial_config(BASE, "logistic", {})
    split = development_rows(candles, config).split
    clean = [s.log_loss for s in _scores("logistic", config, candles)]
    early = candles.index[len(candles) // 2]
    changed = [s.log_loss for s in _scores("logistic", config, _poison(candles, early))]
    assert early < split.start_time
    assert changed != clean
