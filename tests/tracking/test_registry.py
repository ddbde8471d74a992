from __future__ import annotations

from support import register_empty_version

from mlpkg.tracking.registry import (
    model_name,
    registered_aliases,
    resolve_alias,
)


def test_model_name_follows_the_registry_convention():
    assert model_name("BTC") == "mlpkg-BTC"


def test_versions_carry_what_they_are_and_what_the_rule_decided(tracking_store, tmp_path):
    import mlflow

    from mlpkg.evaluation.promotion import PromotionDecision, manual_decision
    from mlpkg.tracking.registry import alias_version, is_promoted, promote, register_version

    source = tmp_path / "model"
    source.mkdir()
    with mlflow.start_run() as run:
        pass
    rejected = PromotionDecision(False, (), "gru is not promoted: fails wins_blocks")
    version = register_version(
        "BTC",
        source.as_uri(),
        run.info.run_id,
        candidate="gru",
        decision=rejected,
        dev_log_loss=0.6912,
        holdout_log_loss=0.6925,
    )
    info = alias_version("BTC", "candidate")
    assert info is not None and info.version == version
    assert (info.candidate, info.decision) == ("gru", "rejected")
    assert info.reason == rejected.reason
    assert (info.log_loss_mean, info.holdout_log_loss) == (0.6912, 0.6925)
    assert not is_promoted(info)

    promote("BTC", version, manual=manual_decision(version))
    champion = alias_version("BTC", "champion")
    assert champion is not None and champion.decision == "manual"
    assert "manual promotion" in champion.reason and is_promoted(champion)


def test_registered_aliases_maps_each_alias_to_its_version(tracking_store, tmp_path):
    assert registered_aliases("BTC") == {}
    first = register_empty_version(tracking_store, tmp_path, "BTC", "candidate", "champion")
    second = register_empty_version(tracking_store, tmp_path, "BTC", "candidate")
    assert registered_aliases("BTC") == {"candidate": second, "champion": first}


def test_resolve_alias_falls_back_only_when_the_alias_is_missing(tracking_store, tmp_path):
    assert resolve_alias("BTC", "champion", "candidate") == ("champion", None)
    candidate = register_empty_version(tracking_store, tmp_path, "BTC", "candidate")
    alias, info = resolve_alias("BTC", "champion", "candidate")
    assert alias == "candidate" and info is not None and info.version == candidate
    assert resolve_alias("BTC", "champion", None) == ("champion", None)
    champion = register_empty_version(tracking_store, tmp_path, "BTC", "champion")
    alias, info = resolve_alias("BTC", "champion", "candidate")
    assert alias == "champion" and info is not None and info.version == champion


def test_the_version_names_its_holdout_loss_for_what_it_is(tracking_store, tmp_path):
    """The registered model is refit on every row: the holdout loss is the dev refit's."""
    import mlflow

    from mlpkg.evaluation.promotion import PromotionDecision
    from mlpkg.tracking.registry import alias_version, register_version

    with mlflow.start_run() as run:
        pass
    version = register_version(
        "BTC",
        tmp_path.as_uri(),
        run.info.run_id,
        candidate="gru",
        decision=PromotionDecision(False, (), "no"),
        dev_log_loss=0.69,
        holdout_log_loss=0.6925,
    )
    tags = tracking_store.get_model_version("mlpkg-BTC", version).tags
    assert tags["dev_refit_holdout_log_loss"] == "0.692500"
    assert "holdout_log_loss" not in tags
    assert "holdout included" in tags["served_fit"]
    assert alias_version("BTC", "candidate").holdout_log_loss == 0.6925


def test_only_not_found_reads_as_no_champion(tracking_store, monkeypatch):
    """A registry that cannot answer must not pass the champion condition as 'no champion'."""
    import mlflow
    import pytest
    from mlflow.exceptions import MlflowException

    from mlpkg.errors import RegistryError
    from mlpkg.tracking.registry import alias_version

    assert alias_version("BTC", "champion") is None  # no such model: not found
    tracking_store.create_registered_model("mlpkg-BTC")
    assert alias_version("BTC", "champion") is None  # no such alias: not found

    def locked(self, name, alias):
        raise MlflowException("(sqlite3.OperationalError) database is locked")

    monkeypatch.setattr(mlflow.MlflowClient, "get_model_version_by_alias", locked)
    monkeypatch.setattr("mlpkg.tracking.registry.sqlite_store", lambda: None)  # MLflow's path
    with pytest.raises(RegistryError, match="database is locked"):
        alias_version("BTC", "champion")


def test_a_locked_sqlite_registry_is_an_error_not_no_champion(
    tracking_store, tmp_path, monkeypatch
):
    """The same rule when the SQLite store is read without MLflow (registry_store)."""
    import sqlite3

    import pytest

    from mlpkg.errors import RegistryError
    from mlpkg.tracking import registry_store
    from mlpkg.tracking.registry import alias_version

    tracking_store.create_registered_model("mlpkg-BTC")
    monkeypatch.setattr(registry_store, "BUSY_TIMEOUT_S", 0.05)
    writer = sqlite3.connect(tmp_path / "mlflow.db", isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")  # a writer holds the file
    try:
        with pytest.raises(RegistryError, match="database is locked"):
            alias_version("BTC", "champion")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert alias_version("BTC", "champion") is None
