"""Every command reads one holdout per pair: from candle times, recorded, moved on purpose."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from support import tiny_run_config

from mlpkg.config import Settings
from mlpkg.data.sources import load_candles
from mlpkg.errors import ConfigError
from mlpkg.pipelines.dataset import build_dataset, select_candles
from mlpkg.pipelines.evaluate import development_split
from mlpkg.pipelines.ledger import check_tuned_rows, holdout_start_for, move_holdout, tuned_rows
from mlpkg.pipelines.search_spaces import search_space
from mlpkg.pipelines.tune import holdout_plan
from mlpkg.tracking import ledger


@pytest.fixture
def settings(tmp_path):
    uri = mlflow.get_tracking_uri()
    yield Settings(home=tmp_path, pairs=["BTC"])
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def _candles(settings: Settings, config) -> pd.DataFrame:
    return select_candles(load_candles(config.pair, config.source, settings), config)


def test_evaluate_tune_and_train_place_the_same_holdout_whatever_the_models(settings):
    """The start comes from candle times alone, so windows and --models cannot move it."""
    starts = {}
    for models, window in (("logistic", 8), ("lstm", 8), ("lstm", 48), ("lightgbm,lstm", 24)):
        config = tiny_run_config(models=models, lstm_window=window)
        candles = _candles(settings, config)
        split, _ = development_split(build_dataset(candles, config), config)
        start, source = holdout_start_for(config, candles, settings)
        assert (start, source) == (split.start_time, "default")
        starts[(models, window)] = split.start_time
    config = tiny_run_config(models="lstm")
    plan, _ = holdout_plan(
        load_candles("BTC", "shipped", settings), config, "lstm", search_space("lstm"), settings
    )
    assert set(starts.values()) == {plan.start}
    # ...and the purge grows with the widest window of the run, so development ends earlier.
    narrow = development_split(build_dataset(_candles(settings, config), config), config)[0]
    assert plan.window > config.lstm.window
    assert narrow.dev_end_time == plan.start - (config.horizon + config.lstm.window) * pd.Timedelta(
        1, "h"
    )


def test_a_recorded_holdout_wins_over_the_default_and_cannot_be_moved_by_an_option(settings):
    config = tiny_run_config(models="logistic")
    candles = _candles(settings, config)
    recorded = candles.index[-300]
    ledger.record_holdout("BTC", recorded, "first-train", settings=settings)

    assert holdout_start_for(config, candles, settings) == (recorded, "ledger")
    shorter = tiny_run_config(models="logistic", max_rows=1200)
    assert holdout_start_for(shorter, _candles(settings, shorter), settings)[0] == recorded
    same = tiny_run_config(holdout_start=str(recorded))
    assert holdout_start_for(same, candles, settings)[0] == recorded
    other = tiny_run_config(holdout_start=str(candles.index[-200]))
    with pytest.raises(ConfigError, match="mlpkg holdout --pair BTC --start"):
        holdout_start_for(other, candles, settings)


def test_a_moved_holdout_starts_after_every_candle_a_decision_read(settings):
    hour = pd.Timedelta(1, "h")
    first = pd.Timestamp("2019-09-01", tz="UTC")
    ledger.record_holdout("BTC", first, "first-train", settings=settings)
    with pytest.raises(ConfigError, match="no decision has read"):
        move_holdout("BTC", roll=True, settings=settings)
    seen = pd.Timestamp("2019-10-01 00:00", tz="UTC")
    ledger.record_seen("BTC", seen, settings)

    with pytest.raises(ConfigError, match="too early"):
        move_holdout("BTC", start="2019-09-20", settings=settings)
    with pytest.raises(ConfigError, match="exactly one"):
        move_holdout("BTC", settings=settings)
    rolled = move_holdout("BTC", roll=True, note="fresh data", settings=settings)
    assert rolled.start == seen + hour and rolled.how == "roll"
    later = move_holdout("BTC", start="2019-11-01", settings=settings)
    book = ledger.read_ledger("BTC", settings)
    assert [e.how for e in book.entries] == ["first-train", "roll", "start"]
    assert book.current == later and later.start == pd.Timestamp("2019-11-01", tz="UTC")


def test_a_tune_whose_development_rows_reach_into_the_holdout_is_refused(settings):
    """The issue's reproducer in miniature: tune on fewer candles, train on more."""
    tune_config = tiny_run_config(models="logistic", max_rows=1200)
    candles = _candles(settings, tune_config)
    start, source = holdout_start_for(tune_config, candles, settings)
    last = candles.index[candles.index < start - 10 * pd.Timedelta(1, "h")][-1]
    record = tuned_rows(tune_config, candles, start, source, last)

    same_rows = check_tuned_rows(record, tune_config, settings)
    assert same_rows == start
    more = tiny_run_config(models="logistic", max_rows=3000)
    with pytest.raises(ConfigError, match="would call untouched"):
        check_tuned_rows(record, more, settings)
    with pytest.raises(ConfigError, match="re-run `mlpkg tune`"):
        check_tuned_rows({"params": {}}, tune_config, settings)
    # Once the ledger holds the tune's holdout, a train on more candles respects it: accepted.
    ledger.record_holdout("BTC", start, "first-train", settings=settings)
    assert check_tuned_rows(record, more, settings) == start
