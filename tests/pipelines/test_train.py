"""End to end on a few hundred shipped candles: train -> evaluate -> log -> register -> load."""

from __future__ import annotations

import math

import mlflow
import pytest

from mlpkg.config import RunConfig, Settings
from mlpkg.data.sources import load_candles
from mlpkg.errors import ModelNotFoundError
from mlpkg.pipelines.predict import score_latest
from mlpkg.pipelines.train import train_pair
from mlpkg.tracking import registry

pytestmark = pytest.mark.slow

TINY = RunConfig.from_flat(
    pair="BTC", max_rows=900, window=8, units=4, lstm_layers=1, dense_units=4, epochs=2,
    batch_size=128, patience=1, n_folds=2,
)  # fmt: skip
MODELS = ("lstm", "majority", "always_up", "persistence", "logistic")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two trainings of BTC into an isolated SQLite store (module-scoped: a few seconds each)."""
    settings = Settings(home=tmp_path_factory.mktemp("train"), pairs=["BTC", "ETH"])
    uri = mlflow.get_tracking_uri()
    first = train_pair(TINY, settings)
    second = train_pair(TINY, settings)
    yield settings, first, second
    mlflow.set_tracking_uri(uri)


def _client(settings: Settings) -> mlflow.MlflowClient:
    uri = settings.resolved_tracking_uri
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _artifacts(client, run_id, path=None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def test_the_store_is_the_sqlite_file_under_mlruns(trained):
    settings, _, _ = trained
    assert settings.resolved_tracking_uri.startswith("sqlite:///")
    assert (settings.home / "mlruns" / "mlflow.db").is_file()
    assert any((settings.home / "mlruns" / "artifacts" / "BTC").iterdir())


def test_the_run_logs_config_data_identity_and_every_model_beside_the_baselines(trained):
    settings, first, _ = trained
    run = _client(settings).get_run(first.run_id)
    params = run.data.params
    assert params["pair"] == "BTC" and params["window"] == "8" and params["seed"] == "42"
    assert len(params["data_checksum"]) == 64
    assert params["data_first_candle"] < params["data_last_candle"]
    assert params["data_last_candle"].startswith("2019-10-01")
    for model in MODELS:
        assert math.isfinite(run.data.metrics[f"{model}_log_loss_mean"]), model
        assert f"{model}_accuracy_mean" in run.data.metrics
    assert run.data.metrics["final_epochs_run"] >= 1


def test_the_run_holds_the_report_plots_and_the_model(trained):
    settings, first, _ = trained
    artifacts = _artifacts(_client(settings), first.run_id)
    expected = {"config.json", "data.json", "walk_forward_report.txt", "promotion.txt",
                "metrics_per_fold.csv", "walk_forward_predictions.csv",
                "plots/reliability_lstm.png", "plots/confusion_lstm.png", "plots/equity.png",
                "plots/training_curves.png"}  # fmt: skip
    assert expected <= artifacts


def test_the_registered_version_is_the_model_logged_by_its_run(trained):
    settings, first, _ = trained
    source = _client(settings).get_model_version("mlpkg-BTC", first.version).source
    assert source.startswith("models:/m-"), "MLflow 3 logs the model as a LoggedModel"
    logged = mlflow.get_logged_model(source.removeprefix("models:/"))
    assert logged.source_run_id == first.run_id


def test_every_training_is_a_new_candidate_version(trained):
    settings, first, second = trained
    assert (first.version, second.version) == ("1", "2")
    candidate = _client(settings).get_model_version_by_alias("mlpkg-BTC", "candidate")
    assert (str(candidate.version), candidate.run_id) == ("2", second.run_id)


def test_champion_follows_the_written_rule(trained):
    settings, first, second = trained
    client = _client(settings)
    lstm = client.get_run(first.run_id).data.metrics["lstm_log_loss_mean"]
    baselines = {m: client.get_run(first.run_id).data.metrics[f"{m}_log_loss_mean"]
                 for m in MODELS[1:]}  # fmt: skip
    assert first.decision == registry.decide_promotion(lstm, baselines, None)
    champion = registry.alias_version("BTC", registry.CHAMPION)
    promoted = [r.version for r in (first, second) if r.decision.promote]
    assert (champion.version if champion else None) == (promoted[-1] if promoted else None)


def test_loading_the_registered_model_predicts_like_the_trained_one(trained, tmp_path):
    settings, _, second = trained
    bundle, info = registry.load_model("BTC", registry.CANDIDATE, tmp_path)
    assert (info.version, info.run_id) == ("2", second.run_id)
    candles = load_candles("BTC", "shipped", settings).iloc[-bundle.history_rows - 10 :]
    loaded = score_latest(bundle, candles)
    original = score_latest(second.bundle, candles)
    assert loaded.probability == pytest.approx(original.probability, abs=1e-6)
    assert 0.0 <= loaded.probability <= 1.0
    assert loaded.confidence == pytest.approx(abs(loaded.probability - 0.5) * 2)
    assert loaded.feature_count == len(bundle.estimator.feature_names_in_)


def test_loading_a_pair_without_a_model_says_how_to_train_one(trained, tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"mlpkg train --pair ETH"):
        registry.load_model("ETH", registry.CHAMPION, tmp_path)
