"""The ``challenger`` alias: one per pair, a newer retrain replaces it, decisions are recorded."""

from __future__ import annotations

from support import register_empty_version

from mlpkg.tracking.challengers import (
    CHALLENGER,
    close_challenge,
    evidence_tags,
    register_challenger,
)
from mlpkg.tracking.registry import CHAMPION, alias_version, is_promoted, model_name

EVIDENCE = {
    "n": 880,
    "settled": 900,
    "mean_diff": -0.0104,
    "lower": -0.0209,
    "upper": -0.00002,
    "e_value": 21.3,
    "threshold": 20.0,
    "reason": "the interval lies below 0: challenger better",
}


def _champion_and_challenger(client, tmp_path) -> tuple[str, str]:
    """A BTC champion and a newer version registered as its challenger: their versions."""
    champion = register_empty_version(client, tmp_path, "BTC", "champion")
    version = register_empty_version(client, tmp_path, "BTC")
    register_challenger("BTC", version, data_end="2019-08-20T00:00:00", reason="offline")
    return champion, version


def _tags(client, pair: str, version: str) -> dict[str, str]:
    return dict(client.get_model_version(model_name(pair), version).tags)


def test_a_newer_retrain_replaces_the_pending_challenger_and_it_is_recorded(
    tracking_store, tmp_path
):
    champion = register_empty_version(tracking_store, tmp_path, "BTC", "champion")
    first = register_empty_version(tracking_store, tmp_path, "BTC", "candidate")
    assert register_challenger("BTC", first, data_end="2019-08-20T00:00:00", reason="r1") is None
    second = register_empty_version(tracking_store, tmp_path, "BTC", "candidate")

    replaced = register_challenger("BTC", second, data_end="2019-08-22T00:00:00", reason="r2")

    assert replaced == first
    assert alias_version("BTC", CHALLENGER).version == second
    assert alias_version("BTC", CHAMPION).version == champion  # nothing promoted offline
    old, new = _tags(tracking_store, "BTC", first), _tags(tracking_store, "BTC", second)
    assert (old["challenge_state"], old["replaced_by"]) == ("replaced", second)
    assert (new["challenge_state"], new["replaces"], new["decision"]) == (
        "watching",
        first,
        "challenger",
    )
    assert new["challenge_data_end"] == "2019-08-22T00:00:00"
    assert not is_promoted(alias_version("BTC", CHALLENGER))


def test_a_live_promotion_moves_the_champion_and_records_the_evidence(tracking_store, tmp_path):
    _, version = _champion_and_challenger(tracking_store, tmp_path)

    close_challenge("BTC", version, "promoted", {**EVIDENCE, "reference": "champion v1"})

    assert alias_version("BTC", CHAMPION).version == version
    assert alias_version("BTC", CHALLENGER) is None
    tags = _tags(tracking_store, "BTC", version)
    assert tags["decision"] == "promoted-live"
    assert tags["challenge_state"] == "promoted"
    assert tags["challenge_n"] == "880" and tags["challenge_upper"] == "-2e-05"
    assert tags["challenge_e_value"] == "21.3" and tags["challenge_threshold"] == "20"
    assert is_promoted(alias_version("BTC", CHAMPION))


def test_a_rejected_challenger_leaves_the_champion_and_loses_the_alias(tracking_store, tmp_path):
    champion, version = _champion_and_challenger(tracking_store, tmp_path)

    close_challenge("BTC", version, "rejected", {**EVIDENCE, "reason": "no decision within 5000"})

    assert alias_version("BTC", CHAMPION).version == champion
    assert alias_version("BTC", CHALLENGER) is None
    tags = _tags(tracking_store, "BTC", version)
    assert (tags["challenge_state"], tags["decision"]) == ("rejected", "challenger")
    assert tags["challenge_reason"] == "no decision within 5000"


def test_evidence_tags_write_nan_as_text():
    assert evidence_tags({"lower": float("nan"), "n": 0})["challenge_lower"] == "nan"
