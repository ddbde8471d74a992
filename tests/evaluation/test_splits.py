from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlpkg.config import WalkForwardConfig
from mlpkg.errors import ConfigError
from mlpkg.evaluation.splits import Fold, walk_forward_splits


def _check_invariants(folds: list[Fold], n_rows: int, horizon: int, window: int) -> None:
    assert folds[-1].test_end == n_rows  # the test blocks cover the end of the series
    for fold in folds:
        assert 0 <= fold.train_start < fold.train_end < fold.test_start < fold.test_end <= n_rows
        assert fold.test_start - fold.train_end == fold.purge >= horizon + window
        assert fold.train_end + horizon <= fold.test_start  # no training label sees test prices
    for before, after in pairwise(folds):
        assert after.index == before.index + 1
        assert after.test_start == before.test_end  # consecutive blocks, no overlap, time order
        assert after.train_end > before.train_end


def test_default_splits_are_purged_consecutive_blocks_at_the_end():
    folds = walk_forward_splits(1000, WalkForwardConfig(), horizon=5, window=60)

    assert [(f.test_start, f.test_end) for f in folds] == [
        (600, 700),
        (700, 800),
        (800, 900),
        (900, 1000),
    ]
    assert [(f.train_start, f.train_end) for f in folds] == [(0, 535), (0, 635), (0, 735), (0, 835)]
    assert all(f.purge == 65 and f.test_rows == 100 for f in folds)
    _check_invariants(folds, 1000, 5, 60)


def test_max_train_rows_caps_the_training_window():
    config = WalkForwardConfig(n_folds=3, test_fraction=0.1, max_train_rows=200)
    folds = walk_forward_splits(1000, config, horizon=3, window=10)

    assert all(f.train_rows == 200 for f in folds)
    _check_invariants(folds, 1000, 3, 10)


@settings(max_examples=200, deadline=None)
@given(
    n_rows=st.integers(50, 5000),
    n_folds=st.integers(1, 8),
    test_fraction=st.floats(0.01, 0.3),
    horizon=st.integers(1, 24),
    window=st.integers(1, 80),
    max_train_rows=st.sampled_from([0, 161, 500]),
)
def test_splits_are_valid_or_refused_clearly(
    n_rows, n_folds, test_fraction, horizon, window, max_train_rows
):
    config = WalkForwardConfig(
        n_folds=n_folds, test_fraction=test_fraction, max_train_rows=max_train_rows
    )
    try:
        folds = walk_forward_splits(n_rows, config, horizon=horizon, window=window)
    except ConfigError as exc:
        assert re.search(r"needed|leaves no training|max_train_rows", str(exc))
        return
    assert len(folds) == n_folds
    _check_invariants(folds, n_rows, horizon, window)
    if max_train_rows:
        assert all(f.train_rows <= max_train_rows for f in folds)


def test_too_few_rows_says_how_many_are_needed_and_that_many_suffice():
    config = WalkForwardConfig(n_folds=4, test_fraction=0.1)
    with pytest.raises(ConfigError, match=r"300 given, at least (\d+) needed") as info:
        walk_forward_splits(300, config, horizon=5, window=60)
    needed = int(re.search(r"at least (\d+) needed", str(info.value)).group(1))

    assert walk_forward_splits(needed, config, horizon=5, window=60)
    with pytest.raises(ConfigError):
        walk_forward_splits(needed - 1, config, horizon=5, window=60)


def test_folds_covering_every_row_are_refused():
    with pytest.raises(ConfigError, match="leaves no training rows"):
        walk_forward_splits(
            10_000, WalkForwardConfig(n_folds=5, test_fraction=0.2), horizon=1, window=1
        )


def test_a_training_cap_below_the_minimum_is_refused():
    config = WalkForwardConfig(max_train_rows=20)
    with pytest.raises(ConfigError, match="max_train_rows=20"):
        walk_forward_splits(10_000, config, horizon=1, window=30)


def _hourly(n: int):
    import pandas as pd

    return pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="open_time")


def test_holdout_is_a_clock_time_period_behind_a_purge_gap():
    import numpy as np
    import pandas as pd

    from mlpkg.evaluation.splits import holdout_split

    index = _hourly(1000)
    labelled = np.ones(1000, dtype=bool)
    labelled[-5:] = False  # the unlabelled tail (horizon 5)
    hour = pd.Timedelta(1, "h")
    split = holdout_split(index, labelled, index[800], horizon=5, window=60, interval=hour)

    assert split.start == 800 and split.end == 1000
    assert split.purge == 5 + 60
    assert split.dev_end == 800 - 65
    assert split.dev_end_time == index[800] - 65 * hour
    # No development label (close h rows later) reaches a holdout row; no holdout window
    # (59 rows of context) reaches back into the development period.
    assert (split.dev_end - 1) + 5 < split.start - 59


def test_purge_is_counted_in_clock_time_across_a_gap():
    import numpy as np
    import pandas as pd

    from mlpkg.evaluation.splits import holdout_split

    index = _hourly(1000).delete(range(740, 760))  # 20 missing candles just before the cut
    labelled = np.ones(len(index), dtype=bool)
    hour = pd.Timedelta(1, "h")
    start = pd.Timestamp("2024-01-01", tz="UTC") + 800 * hour
    split = holdout_split(index, labelled, start, horizon=5, window=60, interval=hour)

    assert index[split.start] == start
    assert index[split.dev_end - 1] < start - 65 * hour <= index[split.dev_end]


def test_default_holdout_start_comes_from_candle_times_alone():
    import pandas as pd

    from mlpkg.evaluation.splits import default_holdout_start

    index = _hourly(1001)
    assert default_holdout_start(index, 0.2) == index[800]
    # Dropping candles inside the span (e.g. labels lost to gaps) does not move it.
    assert default_holdout_start(index.delete(range(100, 300)), 0.2) == index[800]
    with pytest.raises(ConfigError, match="two candles"):
        default_holdout_start(pd.DatetimeIndex(index[:1]), 0.2)


def test_too_short_periods_are_explained():
    import numpy as np
    import pandas as pd

    from mlpkg.evaluation.splits import holdout_split

    index = _hourly(500)
    labelled = np.ones(500, dtype=bool)
    hour = pd.Timedelta(1, "h")
    late = pd.Timestamp("2030-01-01", tz="UTC")
    with pytest.raises(ConfigError, match="0 labelled holdout rows"):
        holdout_split(index, labelled, late, horizon=1, window=1, interval=hour)
    # evaluate and tune never score it: after a roll they still explore development
    empty = holdout_split(
        index, labelled, late, horizon=1, window=1, interval=hour, require_holdout=False
    )
    assert (empty.rows, empty.start_time, empty.dev_end) == (0, late, 500)
    with pytest.raises(ConfigError, match="development rows"):
        holdout_split(index[:60], labelled[:60], index[48], horizon=5, window=21, interval=hour)
