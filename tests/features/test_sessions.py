"""Session-aware rows on real session-shaped candles: closures kept, real gaps still dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sessions import HOUR, session_shaped

from mlpkg.config import FeatureConfig, RunConfig
from mlpkg.data.calendars import get_calendar
from mlpkg.errors import ConfigError
from mlpkg.evaluation.splits import holdout_split, walk_forward_splits
from mlpkg.features.build import build_features, feature_names, warmup_rows
from mlpkg.features.labels import make_labels
from mlpkg.features.lookahead import lookahead_violations
from mlpkg.features.sessions import CLOSURE_FEATURES
from mlpkg.features.window import window_features
from mlpkg.pipelines.dataset import build_dataset

XNYS = FeatureConfig(calendar="XNYS")


@pytest.fixture(scope="module")
def xnys(btc_full):
    """Shipped BTC hours inside real XNYS sessions (about 3,500 bars, 7 a day, holidays out)."""
    return session_shaped(btc_full, "XNYS")


def _positions(index: pd.DatetimeIndex, calendar: str) -> np.ndarray:
    """Each candle's place in the calendar's list of trading bars (an oracle by enumeration)."""
    bars = get_calendar(calendar).trading_bars(index[0], index[-1], HOUR)
    return np.asarray(bars.get_indexer(index))


def test_closures_no_longer_drop_rows(xnys, btc_full):
    with pytest.raises(ConfigError, match="only 0 labelled rows"):
        build_dataset(xnys, RunConfig.from_flat(calendar="24/7"))  # every window spans a night
    dataset = build_dataset(xnys, RunConfig.from_flat(calendar="XNYS"))
    assert dataset.labelled.sum() > 0.85 * (len(xnys) - dataset.warmup_rows)
    fx = session_shaped(btc_full, "24/5")
    week = build_dataset(fx, RunConfig.from_flat(calendar="24/5"))
    clock = build_dataset(btc_full, RunConfig.from_flat(calendar="24/7"))
    # Only the shipped data's own few gaps drop rows; weekends drop none.
    assert week.dropped_label_rows <= clock.dropped_label_rows
    assert week.dropped_window_rows <= clock.dropped_window_rows


@pytest.mark.parametrize("calendar", ["XNYS", "24/5"])
def test_no_label_and_no_window_crosses_a_real_gap(btc_full, calendar):
    """Labels read exactly the bar h trading bars ahead (NaN when it is missing); windows
    never hold a missing trading bar; closures drop nothing. Oracle: the calendar's bar list."""
    candles = session_shaped(btc_full, calendar).iloc[-3000:]
    holes = candles.index[[700, 1400, 1401, 2200]]  # bars missing inside open sessions
    candles = candles.drop(holes)
    h = 5
    dataset = build_dataset(candles, RunConfig.from_flat(calendar=calendar, horizon=h))
    place = _positions(pd.DatetimeIndex(dataset.candles.index), calendar)
    by_place = dict(zip(place.tolist(), range(len(place)), strict=True))
    close = dataset.candles["close"].to_numpy()
    warm, window = dataset.warmup_rows, dataset.context_rows
    rows = np.arange(warm + window, len(place))
    target = np.array([by_place.get(p + h, -1) for p in place[rows]])
    window_whole = place[rows] - place[rows - window] == window
    expected = (target >= 0) & window_whole
    assert (dataset.labelled[rows - warm] == expected).all()
    kept = rows[expected]
    returns = dataset.future_returns.to_numpy()[kept - warm]
    np.testing.assert_allclose(returns, close[target[expected]] / close[kept] - 1)
    assert dataset.dropped_label_rows > 0 and dataset.dropped_window_rows > 0
    assert (~expected).mean() < 0.05  # a few missing bars drop a few windows each
    stamps = pd.DatetimeIndex(dataset.candles.index)
    clock = (stamps[kept] - stamps[kept - window]) / pd.Timedelta(hours=1)
    assert (clock > window).mean() > 0.15  # kept windows over a night or weekend


def test_labels_read_the_bar_h_trading_bars_ahead_over_the_night(xnys):
    friday = xnys.loc["2018-11-21"].index[-1]  # Wednesday 20:00 before Thanksgiving
    labels = make_labels(xnys["close"], (2,), HOUR, get_calendar("XNYS"))
    target = xnys.loc["2018-11-23 15:00", "close"]  # Friday's 2nd bar: the holiday skipped
    assert labels.loc[friday, "future_return_2"] == pytest.approx(
        target / xnys.loc[friday, "close"] - 1
    )


def test_closure_features_are_look_ahead_safe_and_equal_on_both_paths(xnys):
    candles = xnys.iloc[-1200:]
    violations = lookahead_violations(
        lambda c: build_features(c, XNYS), candles, [500, 777, 1001, 1199], atol=0.0
    )
    assert violations.empty, violations
    full = build_features(candles, XNYS)
    assert list(full.columns[-2:]) == list(CLOSURE_FEATURES) == feature_names(XNYS)[-2:]
    assert CLOSURE_FEATURES[0] not in feature_names(FeatureConfig())  # 24/7 keeps its 54
    np.testing.assert_allclose(window_features(candles, XNYS, 40), full.to_numpy()[-40:], atol=1e-9)
    nights = full["closed_bars"].iloc[warmup_rows(XNYS) :] > 0
    assert nights.mean() == pytest.approx(1 / 7, abs=0.02)  # one session open a day
    returns = full["closure_return"].iloc[warmup_rows(XNYS) :]
    assert (returns[~nights] == 0).all() and (returns[nights] != 0).mean() > 0.9


def test_purges_in_rows_are_purges_in_trading_bars(xnys):
    """Rows are trading bars: a purge of horizon + window rows spans that many bars of sessions."""
    config = RunConfig.from_flat(calendar="XNYS", horizon=5)
    dataset = build_dataset(xnys, config)
    index = pd.DatetimeIndex(dataset.X.index)
    place = _positions(index, "XNYS")
    for fold in walk_forward_splits(len(index), config.walk_forward, horizon=5, window=1):
        last_train = fold.train_end - 1
        # The last training label's close (5 bars ahead) opens before the first test bar.
        assert place[last_train] + 5 < place[fold.test_start]
    start = index[int(len(index) * 0.8)]
    window = config.context_rows() + 1
    split = holdout_split(
        index,
        dataset.labelled,
        start,
        horizon=5,
        window=window,
        interval=pd.Timedelta(hours=1),
        calendar=get_calendar("XNYS"),
    )
    # The last development label's close and the first holdout window stay in their periods.
    assert place[split.dev_end - 1] + 5 < place[split.start] - window + 1
