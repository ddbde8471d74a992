from __future__ import annotations

import pytest

from mlpkg.config import RunConfig, Settings, normalize_pair
from mlpkg.errors import ConfigError, UnknownPairError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("btc", "BTC"),
        ("BTC_USDT", "BTC"),
        ("BTC-USD", "BTC"),
        ("BTC/USDT", "BTC"),
        ("BTCUSD", "BTC"),
        ("ETHUSDT", "ETH"),
        ("ethusd", "ETH"),
        (" xrp-usd ", "XRP"),
        ("OPUSDT", "OP"),
        ("opusdt", "OP"),
        ("1INCHUSDT", "1INCH"),
        ("RVN", "RVN"),
    ],
)
def test_normalize_pair_accepts_common_spellings(raw, expected):
    assert normalize_pair(raw) == expected


@pytest.mark.parametrize(
    "token", ["TUSD", "BUSD", "FDUSD", "PYUSD", "USDT", "USDC", "tusd", " fdusd ", "Busd"]
)
def test_normalize_pair_keeps_usd_tokens_whole(token):
    assert normalize_pair(token) == token.strip().upper()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("TUSDUSDT", "TUSD"),
        ("busd_usdt", "BUSD"),
        ("FDUSD-USDT", "FDUSD"),
        ("FDUSDUSD", "FDUSD"),
        ("USDTUSD", "USDT"),
        ("CRVUSD", "CRV"),  # an unlisted USD token reads as base + quote ...
        ("CRVUSD-USD", "CRVUSD"),  # ... and a separator keeps it whole
    ],
)
def test_normalize_pair_removes_one_quote_from_usd_tokens_quoted_in_usd(raw, expected):
    assert normalize_pair(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["../etc/passwd", "B", "BTC USDT", "x" * 500, "", "BTC;DROP", "-USDT", "BTC-", "ETH-BTC"],
)
def test_normalize_pair_rejects_path_characters_and_bad_lengths(raw):
    with pytest.raises(ConfigError, match="Invalid pair"):
        normalize_pair(raw)


def test_settings_read_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("MLPKG_PAIRS", "btc, eth xmr")
    monkeypatch.setenv("MLPKG_PORT", "4001")
    monkeypatch.setenv("MLPKG_HOME", str(tmp_path))
    settings = Settings()
    assert settings.pairs == ["BTC", "ETH", "XMR"]
    assert settings.port == 4001
    assert settings.resolved_tracking_uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert settings.artifact_root == tmp_path / "mlruns" / "artifacts"


def test_settings_default_port_is_the_seed_services():
    assert Settings().port == 3001


def test_check_pair_lists_configured_pairs_for_unknown_pair():
    settings = Settings(pairs=["BTC", "ETH"])
    assert settings.check_pair("eth") == "ETH"
    with pytest.raises(UnknownPairError, match="Configured pairs: BTC, ETH"):
        settings.check_pair("DOGE")


def test_run_config_flattens_and_rebuilds():
    config = RunConfig.from_flat(
        pair="eth", lstm_epochs=3, gru_units=8, n_folds=2, return_lookbacks=(1, 5), models="all"
    )
    flat = config.to_flat()
    assert flat["pair"] == "ETH" and flat["lstm_epochs"] == 3 and flat["n_folds"] == 2
    assert config.gru.units == 8 and config.section("gru").units == 8
    # Spelled out on purpose (the expected expansion of models="all", in the family table's
    # order); tests/pipelines/test_train.py iterates CANDIDATES instead.
    assert config.models == (
        "lstm",
        "gru",
        "cnn",
        "transformer",
        "lightgbm",
        "logistic",
        "weighted",
        "stacked",
    )
    assert RunConfig.from_flat(**flat) == config
    assert len(set(RunConfig.flat_fields())) == len(RunConfig.flat_fields())


def test_run_config_is_frozen():
    config = RunConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.horizon = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lstm_epochs": -1}, "lstm_epochs"),
        ({"gru_window": "abc"}, "gru_window"),
        ({"epochs": 3}, "Unknown run parameter 'epochs'"),
        ({"models": "lstm,xgboost"}, "unknown model"),
        ({"models": "lightgbm,weighted"}, "weighted ensemble combines neural families"),
        ({"models": "lstm,stacked"}, "stacked ensemble needs at least two families"),
        ({"holdout_start": "soon"}, "holdout_start"),
        ({"nope": 1}, "Unknown run parameter 'nope'"),
        ({"data_end": "yesterday"}, "data_end"),
    ],
)
def test_run_config_rejects_bad_parameters_clearly(params, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_flat(**params)


def test_horizon_without_its_return_feature_is_rejected_with_the_fix():
    with pytest.raises(ConfigError, match=r"add 7 to return_lookbacks"):
        RunConfig.from_flat(horizon=7, return_lookbacks=[1, 3])
    assert RunConfig.from_flat(horizon=7, return_lookbacks=[1, 7]).horizon == 7


def test_a_horizon_alone_adds_its_return_lag_to_the_default_lags():
    config = RunConfig.from_flat(horizon=7)
    assert config.features.return_lookbacks == (1, 3, 5, 7, 10, 20)
    assert RunConfig.model_validate(config.model_dump()) == config  # a recorded config reloads


@pytest.mark.parametrize("lags", [[0, 5], [-1, 5], [5, 5], []])
def test_lags_that_would_look_ahead_or_collide_are_rejected(lags):
    with pytest.raises(ConfigError, match=r"return_lookbacks: must be distinct whole numbers"):
        RunConfig.from_flat(return_lookbacks=lags)
