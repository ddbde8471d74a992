"""End to end: XNYS-session hourly bars from a file train, register and serve a model whose
windows span nights; a second BTC model (4 h, h = 6) is served beside the default one.

The candles are the shipped hourly BTC (SPY: only the hours inside real XNYS sessions),
written to a file source; tiny LightGBM runs (8-bar windows) keep it short.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sessions import session_shaped
from support import poll_until, tiny_run_config

from mlpkg.data.calendars import get_calendar
from mlpkg.evaluation.promotion import manual_decision
from mlpkg.pipelines.dataset import prepare_dataset
from mlpkg.pipelines.train import TrainResult, train_pair
from mlpkg.tracking import registry

from .conftest import make_replay_settings, make_settings, run_server

RUN = {"models": "lightgbm", "source": "file", "n_folds": 2}


def _champion(key: str, version: str, promoted: bool) -> None:
    if not promoted:  # tiny runs rarely beat the baselines: promote by hand for serving
        registry.promote(key, version, manual=manual_decision(version))


@pytest.fixture(scope="module")
def sessions_home(tmp_path_factory, btc_full):
    home = tmp_path_factory.mktemp("sessions")
    data = home / "data"
    data.mkdir()
    session_shaped(btc_full, "XNYS").to_csv(data / "SPY.csv", index_label="open_time")
    btc_full.to_csv(data / "BTC.csv", index_label="open_time")
    return home


def _settings(home: Path):
    return make_settings(
        home,
        store="sessions",
        pairs=["SPY", "BTC"],
        data_source="file",
        data_dir=home / "data",
        calendars={"SPY": "XNYS"},
    )


@pytest.fixture(scope="module")
def trained(sessions_home) -> Iterator[dict[str, TrainResult]]:
    """SPY (XNYS sessions), BTC and BTC 4 h / h = 6, trained and made champions."""
    from mlpkg.config import get_settings

    settings = _settings(sessions_home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLPKG_CALENDARS", "SPY=XNYS")
        get_settings.cache_clear()
        results = {}
        for config in (
            tiny_run_config(pair="SPY", max_rows=2500, **RUN),
            tiny_run_config(pair="BTC", **RUN),
            tiny_run_config(pair="BTC", interval="4h", horizon=6, max_rows=0, **RUN),
        ):
            result = train_pair(config, settings)
            _champion(config.model_key, result.version, result.decision.promote)
            results[config.model_key] = result
        yield results
    get_settings.cache_clear()


def test_session_models_train_register_and_serve(sessions_home, trained, monkeypatch):
    settings = _settings(sessions_home)
    monkeypatch.setenv("MLPKG_CALENDARS", "SPY=XNYS")
    from mlpkg.config import get_settings

    get_settings.cache_clear()
    spy = tiny_run_config(pair="SPY", max_rows=2500, **RUN)
    assert spy.calendar == "XNYS" and spy.model_key == "SPY"
    dataset = prepare_dataset(spy, settings)
    stamps = pd.DatetimeIndex(dataset.candles.index)
    rows = np.flatnonzero(dataset.labelled) + dataset.warmup_rows
    span = stamps[rows] - stamps[rows - dataset.context_rows]
    assert (span > pd.Timedelta(hours=12)).all()  # 8-bar windows, 7-bar sessions: all span nights
    assert dataset.labelled.sum() > 1500

    assert registry.model_keys("BTC") == ["BTC", "BTC-4h-h6"]
    bundle = trained["BTC-4h-h6"].bundle
    assert (bundle.run_config.interval, bundle.candle_interval) == ("4h", pd.Timedelta(hours=4))
    assert trained["SPY"].bundle.run_config.calendar == "XNYS"

    with run_server(settings) as running:
        client = running.client
        spy_answer = client.get("/api/predictions/SPY")
        assert spy_answer.status_code == 200, spy_answer.text
        meta = spy_answer.json()["prediction"]["metadata"]
        candle = pd.Timestamp(meta["candleTime"])
        expected = get_calendar("XNYS").trading_bars(candle, candle + pd.Timedelta(days=10), "1h")
        assert pd.Timestamp(meta["targetTime"]) == expected[5]  # 5 trading bars, nights skipped

        default = client.get("/api/predictions/BTC").json()
        other = client.get("/api/predictions/BTC", params={"interval": "4h", "horizon": 6})
        assert other.status_code == 200, other.text
        body = other.json()
        assert body["pair"] == "BTC"
        assert body["prediction"]["metadata"]["modelName"] == "mlpkg-BTC-4h-h6"
        assert default["prediction"]["metadata"]["modelName"] == "mlpkg-BTC"
        four_hours = pd.Timedelta(hours=4)
        target = pd.Timestamp(body["prediction"]["metadata"]["targetTime"])
        assert target - pd.Timestamp(body["prediction"]["metadata"]["candleTime"]) == 6 * four_hours

        missing = client.get("/api/predictions/BTC", params={"interval": "1d", "horizon": 3})
        assert missing.status_code == 404
        assert "mlpkg-BTC-1d-h3" in missing.text and "BTC, BTC-4h-h6" in missing.text

        listed = client.get("/api/models").json()["models"]
        keys = {m["key"]: m for m in listed}
        assert set(keys) == {"SPY", "BTC", "BTC-4h-h6"}
        assert (keys["BTC-4h-h6"]["interval"], keys["BTC-4h-h6"]["horizon"]) == ("4h", 6)
        assert keys["BTC-4h-h6"]["loadedVersion"] == trained["BTC-4h-h6"].version
        assert keys["SPY"]["calendar"] == "XNYS"
    get_settings.cache_clear()


def test_the_live_loop_scores_a_registered_extra_model_on_its_own_candles(sessions_home, trained):
    """Loaded at start (no request), BTC 4 h / h = 6 is scored by the loop on each closed 4 h
    candle, settled six of its bars later, beside the default BTC model (1 h, h = 5), unchanged."""
    key, four_hours = "BTC-4h-h6", pd.Timedelta(hours=4)
    settings = make_replay_settings(
        sessions_home,
        "sessions-live",
        sessions_home / "data",
        28_800,  # 8 replayed hours per second: two 4 h candles
        pairs=["BTC"],
        replay_start="2019-09-20T00:00:00+00:00",
    )
    with run_server(settings) as running:
        store = running.state.live.store
        assert running.state.models.peek(key) is not None  # registered: loaded at start
        poll_until(
            lambda: len(store.history(key, limit=50)) >= 9, timeout=120, what="9 4 h predictions"
        )
        extra = sorted(store.history(key, limit=50), key=lambda r: r.candle_time)
        default = sorted(store.history("BTC", limit=500), key=lambda r: r.candle_time)
        health = running.client.get("/api/health").json()["live"]["pairs"]

    version = trained[key].version
    made = {(r.model_name, r.model_version, r.horizon) for r in extra}
    assert made == {(f"mlpkg-{key}", version, 6)}
    times = pd.DatetimeIndex([r.candle_time for r in extra])
    assert (times.diff()[1:] == four_hours).all()  # consecutive closed 4 h candles, each once
    assert all(r.target_time - r.candle_time == 6 * four_hours for r in extra)
    due = [r for r in extra if r.target_time <= times[-1]]
    assert len(due) >= 3 and all(r.realised_direction is not None for r in due)
    assert all(r.realised_direction is None for r in extra if r.target_time > times[-1])
    assert health[key]["modelVersion"] == version and health[key]["scored"] >= 8

    assert {(r.model_name, r.horizon) for r in default} == {("mlpkg-BTC", 5)}
    hours = pd.DatetimeIndex([r.candle_time for r in default])
    assert len(hours) > len(times) and (hours.diff()[1:] == pd.Timedelta(hours=1)).all()
    assert health["BTC"]["scored"] >= len(hours) - 1
