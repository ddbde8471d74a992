"""The registry read from MLflow's SQLite file answers what ``MlflowClient`` answers.

A contract test: every read of ``mlpkg.tracking.registry_store`` is compared with MLflow's own
client on a real store (versions, tags, aliases, a deleted version, model names, RUNNING runs),
so an MLflow upgrade that changes its tables fails here instead of in the server.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import mlflow
import pytest

from mlpkg.errors import RegistryError
from mlpkg.tracking import registry, registry_store
from mlpkg.tracking.connection import sqlite_store


def _version(client, name: str, source: Path, run_id: str, **tags: str) -> str:
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    found = client.create_model_version(name, source=source.as_uri(), run_id=run_id, tags=tags)
    return str(found.version)


@pytest.fixture
def filled(tracking_store, tmp_path):
    """BTC with three versions (the second deleted), aliases, tags; BTC-4h-h6 and ETH."""
    client = tracking_store
    source = tmp_path / "model"
    source.mkdir()
    with mlflow.start_run() as run:
        pass
    run_id = run.info.run_id
    btc = registry.model_name("BTC")
    first = _version(client, btc, source, run_id, candidate="lstm", dev_log_loss="0.69")
    second = _version(client, btc, source, run_id, candidate="gru")
    third = _version(client, btc, source, run_id, candidate="stacked", decision="promoted")
    client.set_registered_model_alias(btc, "champion", third)
    client.set_registered_model_alias(btc, "candidate", third)
    client.set_registered_model_alias(btc, "old", first)
    client.delete_model_version(btc, second)
    _version(client, registry.model_name("BTC-4h-h6"), source, run_id)
    _version(client, registry.model_name("ETH"), source, run_id)
    db = sqlite_store()
    assert db is not None and db.is_file()
    return client, db, btc


def test_the_store_is_the_one_mlflow_points_at(filled, tmp_path):
    _, db, _ = filled
    assert db == tmp_path / "mlflow.db"


def test_a_version_by_alias_matches_mlflow(filled):
    client, db, btc = filled
    for alias in ("champion", "candidate", "old"):
        ours = registry_store.alias_version(db, btc, alias)
        theirs = client.get_model_version_by_alias(btc, alias)
        assert ours is not None
        assert ours.version == str(theirs.version)
        assert ours.run_id == theirs.run_id
        assert dict(ours.tags) == dict(theirs.tags)
        assert sorted(ours.aliases) == sorted(theirs.aliases)
        assert ours.creation_timestamp == theirs.creation_timestamp
        assert registry.alias_version("BTC", alias) == registry._version_info(theirs)
    assert registry_store.alias_version(db, btc, "nope") is None
    assert registry_store.alias_version(db, "mlpkg-XMR", "champion") is None


def test_versions_aliases_and_names_match_mlflow(filled):
    client, db, btc = filled
    ours = {v.version: dict(v.tags) for v in registry_store.versions(db, btc)}
    theirs = {str(v.version): dict(v.tags) for v in client.search_model_versions(f"name='{btc}'")}
    assert ours == theirs and len(ours) == 2  # the deleted version is gone in both
    assert [v.version for v in registry.list_versions("BTC")] == ["3", "1"]
    assert registry_store.aliases(db, btc) == {
        str(k): str(v) for k, v in client.get_registered_model(btc).aliases.items()
    }
    names = sorted(str(m.name) for m in client.search_registered_models())
    assert sorted(registry_store.model_names(db, "mlpkg-")) == names
    assert registry.model_keys() == ["BTC", "BTC-4h-h6", "ETH"]
    assert registry.model_keys("BTC") == ["BTC", "BTC-4h-h6"]


def test_a_version_folder_is_its_local_storage_location(filled, tmp_path):
    _, db, btc = filled
    row = registry_store.alias_version(db, btc, "champion")
    assert row is not None
    assert registry_store.local_folder(row.storage_location) == tmp_path / "model"
    assert registry_store.local_folder((tmp_path / "gone").as_uri()) is None
    assert registry_store.local_folder("s3://bucket/model") is None


def test_running_runs_are_counted(tracking_store, tmp_path):
    db = tmp_path / "mlflow.db"
    with mlflow.start_run():
        assert registry_store.running_runs(db) == 1
    assert registry_store.running_runs(db) == 0


def test_no_store_or_an_empty_one_reads_as_nothing_registered(tmp_path):
    missing = tmp_path / "none.db"
    assert registry_store.aliases(missing, "mlpkg-BTC") == {}
    assert registry_store.alias_version(missing, "mlpkg-BTC", "champion") is None
    assert registry_store.running_runs(missing) == 0
    assert not missing.exists()  # a read never creates the file
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert registry_store.versions(empty, "mlpkg-BTC") == []
    assert registry_store.model_names(empty, "mlpkg-") == []


def test_a_damaged_store_is_a_registry_error_that_says_what_to_check(tmp_path):
    damaged = tmp_path / "mlflow.db"
    damaged.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="MLPKG_TRACKING_URI"):
        registry_store.aliases(damaged, "mlpkg-BTC")
