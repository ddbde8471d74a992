"""``import mlpkg``: the notebook-level verbs, and importing it stays light."""

from __future__ import annotations

import pytest
from support import loaded_by

import mlpkg
from mlpkg.config import FeatureConfig, get_settings


def test_importing_mlpkg_loads_no_tensorflow_pandas_or_mlflow():
    assert loaded_by("mlpkg", ("tensorflow", "keras", "pandas", "mlflow", "sklearn")) == []
    assert set(mlpkg.__all__) >= {
        "load_candles",
        "build_features",
        "evaluate",
        "train",
        "load_model",
        "check_lookahead",
    }


@pytest.fixture
def settings_env(monkeypatch, tmp_path):
    for key in ("MLPKG_DATA_SOURCE", "MLPKG_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLPKG_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_load_candles_uses_the_configured_source_by_default(settings_env, monkeypatch):
    candles = mlpkg.load_candles("btc")
    assert list(candles.columns) == ["open", "high", "low", "close", "volume"]
    assert len(candles) > 17000
    monkeypatch.setenv("MLPKG_DATA_SOURCE", "file")
    get_settings.cache_clear()
    from mlpkg.errors import DataSourceError

    with pytest.raises(DataSourceError, match="No candle file for BTC"):
        mlpkg.load_candles("BTC")
    assert len(mlpkg.load_candles("BTC", "shipped")) == len(candles)


def test_features_and_the_lookahead_proof_through_the_facade(btc_candles):
    features = mlpkg.build_features(btc_candles)
    assert features.shape == (len(btc_candles), 54)
    assert mlpkg.check_lookahead(btc_candles.iloc[-600:], FeatureConfig(), [500, 550]).empty


@pytest.mark.slow
def test_evaluate_train_and_load_model_from_the_facade(settings_env):
    from mlpkg.errors import ModelNotFoundError

    tiny = {"max_rows": 1200, "models": "logistic", "n_folds": 2, "holdout_blocks": 2}
    development = mlpkg.evaluate("BTC", **tiny)
    assert development.selection.chosen == "logistic"
    result = mlpkg.train("BTC", **tiny)
    bundle = mlpkg.load_model("BTC", "candidate")
    assert bundle.candidate == result.bundle.candidate == "logistic"
    with pytest.raises(ModelNotFoundError, match="mlpkg train --pair ETH"):
        mlpkg.load_model("ETH")
