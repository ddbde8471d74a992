"""The pair experiments (tagged for MLflow 3's UI, no "View run" lines) and the artifact readers."""

from __future__ import annotations

import os

import mlflow
import pytest

from mlpkg.config import Settings
from mlpkg.tracking import runs


def _kind(settings: Settings, experiment_id: str) -> str | None:
    client = mlflow.MlflowClient(tracking_uri=settings.resolved_tracking_uri)
    return client.get_experiment(experiment_id).tags.get("mlflow.experimentKind")


def test_a_pair_experiment_is_tagged_as_custom_model_development(tmp_path):
    settings = Settings(home=tmp_path, pairs=["BTC"])
    experiment = runs.ensure_experiment("BTC", settings)
    assert _kind(settings, experiment) == "custom_model_development"


def test_an_experiment_made_before_the_tag_gets_it(tmp_path):
    settings = Settings(home=tmp_path, pairs=["ETH"])
    runs.configure_tracking(settings)
    old = mlflow.create_experiment(runs.experiment_name("ETH"))
    assert _kind(settings, old) is None
    assert runs.ensure_experiment("ETH", settings) == old
    assert _kind(settings, old) == "custom_model_development"


def test_mlflow_is_told_not_to_print_view_run_lines(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", raising=False)
    runs.configure_tracking(Settings(home=tmp_path))
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT

    assert MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.get() is True


def test_only_a_missing_run_or_artifact_reads_as_missing(tracking_store):
    with mlflow.start_run() as run:
        mlflow.log_dict({"a": 1}, "config.json")
        mlflow.log_text("x,y\n1,2\n", "table.csv")
    run_id = run.info.run_id
    assert runs.read_run_json(run_id, "config.json") == {"a": 1}
    assert runs.read_csv_artifact(run_id, "table.csv").to_dict("list") == {"x": [1], "y": [2]}
    assert runs.read_run_json(run_id, "absent.json") is None
    assert runs.read_text_artifact(run_id, "absent.txt") is None
    assert runs.read_text_artifact("0" * 32, "config.json") is None  # no such run
    assert runs.read_run_json("", "config.json") is None  # registered by hand: no run


def test_a_broken_store_is_an_error_not_missing_data(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"this is not a database" * 100)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    with pytest.raises(Exception) as raised:
        runs.read_run_json("0" * 32, "config.json")
    assert not runs.is_missing(raised.value)
