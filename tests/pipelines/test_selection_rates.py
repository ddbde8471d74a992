"""The rule rarely promotes noise, and does promote a learnable signal.

A random walk has nothing to learn: every promotion there is a false one (the DM level is 5 %
at most; the margin and the block majority make the rule stricter still). 32 walks, at most one
promotion: a rule that promoted 15 % of random walks would pass this with probability 0.04
(binomial), so a leak or a broken rule shows. With a planted hour-of-day drift the time features
carry a real signal, and a cheap family (logistic) must pass.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mlpkg.config import RunConfig
from mlpkg.data.synthetic import synthetic_candles
from mlpkg.evaluation.promotion import best_naive, decide_promotion
from mlpkg.models.baselines import NAIVE_BASELINES
from mlpkg.models.inference import check_window
from mlpkg.pipelines.dataset import build_dataset
from mlpkg.pipelines.evaluate import evaluate_development
from mlpkg.pipelines.holdout import score_holdout

pytestmark = pytest.mark.slow

CONFIG = RunConfig.from_flat(
    models="logistic", n_folds=3, holdout_fraction=0.25, holdout_blocks=4, importance_rows=0
)


def _promoted(candles: pd.DataFrame) -> bool:
    # train_pair's protocol without MLflow, the ledger or a champion; the benchmark
    # bench/selection/bench_false_promotion.py (trial) runs the same steps at larger sizes.
    dataset = build_dataset(candles, CONFIG)
    development = evaluate_development(dataset, CONFIG)
    holdout = score_holdout(development, CONFIG)
    decision = decide_promotion(
        holdout,
        development.procedure.name,
        baseline=best_naive(development.base_predictions, NAIVE_BASELINES),
        horizon=CONFIG.horizon,
        champion=None,
    )
    return decision.promote


def test_random_walks_are_rarely_promoted():
    promotions = sum(_promoted(synthetic_candles(1500, seed)) for seed in range(32))
    assert promotions <= 1  # P(<= 1 of 32) is 0.04 at a 15 % false-promotion rate


def test_a_planted_learnable_signal_is_promoted():
    promotions = [
        _promoted(synthetic_candles(4000, seed, hourly_drift=0.004)) for seed in (0, 1, 2)
    ]
    assert promotions == [True, True, True]


def test_labels_and_windows_spanning_missing_candles_are_dropped_and_counted():
    candles = synthetic_candles(2000, 3)
    gap = candles.index[1000:1010]
    config = RunConfig.from_flat(models="lstm", lstm_window=20, horizon=5)
    full = build_dataset(candles, config)
    holed = build_dataset(candles.drop(gap), config)

    # 5 labels would reach across the 10 missing hours; 19 rows after the gap have windows
    # spanning it, plus the 5 rows ending at the gap (their labels are already dropped).
    assert holed.dropped_label_rows == 5
    assert holed.dropped_window_rows == 19
    assert full.dropped_label_rows == full.dropped_window_rows == 0
    before = holed.y.loc[: gap[0]].iloc[-6:]
    assert before.iloc[:-5].notna().all() and before.iloc[-5:].isna().all()
    assert holed.y.loc[gap[-1] :].iloc[:19].isna().all()
    assert np.isfinite(holed.y.loc[gap[-1] :].iloc[19])


def test_rows_whose_trailing_h_step_return_spans_missing_candles_are_dropped():
    """return_5 (persistence's input) counts rows: after a gap it is not a 5-hour move."""
    candles = synthetic_candles(2000, 3)
    gap = candles.index[1000:1010]
    config = RunConfig.from_flat(models="logistic", horizon=5)
    holed = build_dataset(candles.drop(gap), config)
    after = holed.y.loc[gap[-1] :]
    assert after.iloc[:5].isna().all()  # return_5 of these reads a candle before the gap
    assert np.isfinite(after.iloc[5])


def test_serving_refuses_a_window_that_spans_missing_candles(tiny_config):
    from mlpkg.errors import MissingCandlesError

    class Bundle:  # the attributes check_window reads
        warmup_rows, context_rows, history_rows = 444, 7, 452
        candle_interval = pd.Timedelta(hours=1)
        run_config = tiny_config()  # its calendar (24/7): every missing hour is a gap

    for unit in ("ns", "us", "s"):  # pandas reads CSV/parquet times at several resolutions
        candles = synthetic_candles(600, 1)
        candles.index = candles.index.as_unit(unit)
        check_window(candles, Bundle())  # complete: no error
        holed = candles.drop(candles.index[-3])
        gap = f"between {candles.index[-4]} and {candles.index[-2]}"
        with pytest.raises(MissingCandlesError, match=re.escape(f"spans missing candles {gap}")):
            check_window(holed, Bundle())
