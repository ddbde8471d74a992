"""Pooled runs: what a pooled fit reads, and `mlpkg train --pooled --cross-assets` end to end."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from support import tiny_cli_args, tiny_run_config

from mlpkg import cli
from mlpkg.config import Settings
from mlpkg.errors import ConfigError
from mlpkg.evaluation.promotion import manual_decision
from mlpkg.models import pooled as pooled_module
from mlpkg.models.families import make_estimator
from mlpkg.models.pooled import Pool, PoolMember, pooled_rows
from mlpkg.pipelines.dataset import prepare_dataset
from mlpkg.pipelines.evaluate import development_split
from mlpkg.pipelines.pooled import check_pooled, load_pool, train_pooled
from mlpkg.pipelines.train import train_pair
from mlpkg.serving.app import create_app
from mlpkg.tracking import ledger, registry

POOL = "BTC,ETH,LTC"
SMALL = {"models": "lightgbm,logistic", "pool_pairs": POOL, "importance_rows": 0}


def _rows(pair: str, start: str, n: int, label: float = 1.0) -> tuple[pd.DataFrame, pd.Series]:
    index = pd.date_range(start, periods=n, freq="h", tz="UTC", name="open_time")
    # "b" marks the pair (deterministic: str hashes change per process and could collide).
    marker = float(sum(map(ord, pair)))
    X = pd.DataFrame({"a": np.arange(n, dtype=float), "b": marker}, index=index)
    return X, pd.Series(label, index=index)


def test_pooled_rows_stop_at_the_cutoff_and_at_each_pairs_development_end():
    X, y = _rows("LTC", "2019-01-01", 100)
    other_X, other_y = _rows("BTC", "2019-01-01", 200)
    member = PoolMember("BTC", other_X, other_y, dev_end_time=other_X.index[70])
    pool = Pool("LTC", (member,), ("BTC", "LTC"), chunk_rows=40)
    features, labels, used = pooled_rows(pool, X.iloc[:90], y.iloc[:90], context=3)
    assert used == {"LTC": 90, "BTC": 70}  # BTC: rows before its development end only
    assert features.index.max() <= X.index[89]
    from_btc = features[features["b"] == other_X["b"].iloc[0]]
    assert from_btc.index.max() < member.dev_end_time
    # Time-interleaved chunks, each after `context` unlabelled rows of its own pair.
    assert features.index[:40].max() < features.index[-40:].min()
    assert labels.notna().sum() == 90 + 70
    assert labels.isna().sum() == 3 * (len(labels) - 160) // 3


def test_the_pair_indicator_adds_one_hot_columns_and_predicts_with_its_own():
    X, _ = _rows("LTC", "2019-01-01", 50)
    pool = Pool("LTC", (), ("BTC", "LTC"), indicator=True)
    shown = pool.with_indicator(X)
    assert shown[["pair_btc", "pair_ltc"]].iloc[0].tolist() == [0.0, 1.0]
    assert pool.with_indicator(X, "BTC")["pair_btc"].eq(1.0).all()


def test_a_pooled_fit_outside_a_pool_is_a_clear_error():
    config = tiny_run_config(pair="LTC", pooled=True)
    with pytest.raises(ConfigError, match="reads the other pairs' rows"):
        make_estimator("logistic", config)
    with pytest.raises(ConfigError, match="pair_indicator is for evaluation"):
        check_pooled(tiny_run_config(pair="LTC", pair_indicator=True), registering=True)
    with pytest.raises(ConfigError, match="holds no other pair"):
        check_pooled(tiny_run_config(pair="LTC", pool_pairs="LTC"), registering=False)


def test_no_pooled_fit_reads_a_holdout_row_or_a_later_row_of_any_pair(home, monkeypatch):
    config = check_pooled(tiny_run_config(pair="LTC", **SMALL), registering=True)
    pool = load_pool(config)
    own = prepare_dataset(config)
    own_dev_end = development_split(own, config)[0].dev_end_time
    calls: list[tuple[pd.Timestamp, dict[str, pd.Timestamp]]] = []
    real = pooled_module.pooled_rows

    def spy(pool_, X, y, context):
        features, labels, used = real(pool_, X, y, context)
        latest = {m.pair: m.X.index[: m.readable(X.index[-1])].max() for m in pool_.members}
        calls.append((pd.Timestamp(X.index[-1]), latest))
        return features, labels, used

    monkeypatch.setattr(pooled_module, "pooled_rows", spy)
    result = train_pooled(config)
    # 2 folds x 2 families + the holdout fits (the candidate, and the logistic reference
    # unless it is the candidate) + the final fit.
    assert len(calls) >= 6
    for cutoff, latest in calls:
        assert set(latest) == {"BTC", "ETH"}
        for pair, last in latest.items():
            assert last <= cutoff
            assert last < pool[pair].dev_end_time, f"{pair}'s holdout was read"
    fits_before_final = [c for c, _ in calls if c < own_dev_end]
    assert len(fits_before_final) >= 5  # folds and holdout fits stop before LTC's holdout
    assert max(c for c, _ in calls) >= own_dev_end  # the final fit
    assert result.version == "1"
    # Each pool pair's holdout is its ledger entry, recorded by this first (pooled) training
    # run of the pair, and its rows before it are marked seen.
    for pair in ("BTC", "ETH"):
        book = ledger.read_ledger(pair)
        assert book.current is not None and pool[pair].dev_end_time < book.current.start
        assert book.seen_until is not None and book.seen_until < book.current.start


def test_a_pool_pair_reads_its_recorded_holdout_not_a_local_one(home):
    config = check_pooled(tiny_run_config(pair="LTC", **SMALL), registering=False)
    default = load_pool(config)["BTC"].dev_end_time
    earlier = default - pd.Timedelta(days=5)
    ledger.record_holdout("BTC", earlier, "first-train", "test", None)
    assert load_pool(config)["BTC"].dev_end_time < earlier < default
    # The trained pair's holdout_start names its own holdout, never a pool pair's.
    moved = tiny_run_config(pair="LTC", holdout_start=str(default), **SMALL)
    assert load_pool(check_pooled(moved, registering=False))["BTC"].dev_end_time < earlier


def test_train_pooled_with_cross_assets_registers_what_trained_it_and_serves(home, capsys):
    args = tiny_cli_args(**SMALL)
    code = cli.main(["train", "--pair", "LTC", *args, "--pooled", "--cross-assets", "BTC,market"])
    assert code == 0
    assert "Registered mlpkg-LTC version 1" in capsys.readouterr().out
    client = mlflow.MlflowClient()
    tags = client.get_model_version("mlpkg-LTC", "1").tags
    assert tags["pooled"] == "true" and tags["pool_pairs"] == "BTC,ETH,LTC"
    rows = json.loads(tags["pool_rows"])
    assert set(rows) == {"BTC", "ETH", "LTC"} and min(rows.values()) > 100
    run = client.get_run(tags["run_id"]).data
    assert run.params["pooled"] == "True" and run.params["cross_assets"] == "BTC,market"
    assert run.tags["pool_rows"] == tags["pool_rows"]

    assert cli.main(["predict", "--pair", "LTC"]) == 0
    assert "LTC (candidate, version 1): P(up in 5 candles" in capsys.readouterr().out

    version = registry.alias_version("LTC", registry.CANDIDATE)
    assert version is not None
    settings = Settings(
        home=home,
        pairs=["LTC"],
        serve_alias="candidate",
        live_scoring=False,
        model_poll_s=0,
        prediction_cache_s=0,
    )
    with TestClient(create_app(settings)) as http:
        answer = http.get("/api/predictions/LTC")
    assert answer.status_code == 200, answer.text
    detail = answer.json()["prediction"]
    assert 0.0 <= detail["probability"] <= 1.0
    assert detail["metadata"]["version"] == "1"
    assert detail["metadata"]["featureCount"] == 54 + 8  # own features + BTC and market

    # A later per-pair run re-scores the pooled champion by refitting it on its own pool.
    registry.promote("LTC", "1", manual=manual_decision("1"))
    later = train_pair(tiny_run_config(pair="LTC", **SMALL))
    champion = next(c for c in later.decision.conditions if c.name == "not_worse_than_champion")
    assert (
        "vs champion v1 " in champion.detail
        and "refit on this development period" in champion.detail
    )
