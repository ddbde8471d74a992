"""The ``challenger`` alias: a retrained version waiting for live evidence, and its outcome.

A periodic or drift retrain is registered as usual (alias ``candidate``) and then made the
pair's **challenger** instead of being promoted on a re-scored old holdout. One challenger per
pair: a newer retrain replaces a pending one, and the replaced version is tagged
``challenge_state=replaced`` with ``replaced_by``. The live service scores the challenger in
shadow and decides with ``mlpkg.evaluation.sequential``; the outcome is recorded on the version
as tags: ``decision=promoted-live`` (the ``champion`` alias moves to it) or
``challenge_state=rejected``, each with the evidence (``challenge_n``, ``challenge_mean_diff``,
``challenge_lower``, ``challenge_upper``, ``challenge_e_value``, ``challenge_reason``). The
alias ``challenger`` is removed once decided.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from mlpkg.tracking.connection import mlflow_module
from mlpkg.tracking.registry import CHAMPION, alias_version, model_name

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
PROMOTED_LIVE = "promoted-live"


def _tags(pair: str, version: str, tags: Mapping[str, object]) -> None:
    client = mlflow_module().MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name(pair), version, key, str(value)[:4000])


def register_challenger(pair: str, version: str, *, data_end: str, reason: str) -> str | None:
    """Make ``version`` the pair's challenger; return the pending version it replaced, if any.

    Args:
        pair: The pair.
        version: The newly registered version.
        data_end: Open time of the last candle its training saw (shadow scoring starts after).
        reason: What the offline rule said, kept for the record (it decides nothing here).
    """
    pending = alias_version(pair, CHALLENGER)
    replaced = pending.version if pending is not None and pending.version != version else None
    if replaced is not None:
        _tags(pair, replaced, {"challenge_state": "replaced", "replaced_by": version})
        log.info("%s: challenger version %s replaced by version %s", pair, replaced, version)
    _tags(
        pair,
        version,
        {
            "decision": "challenger",
            "challenge_state": "watching",
            "challenge_data_end": data_end,
            "reason": f"challenger: decided live on shadow outcomes (offline rule: {reason})",
            **({"replaces": replaced} if replaced else {}),
        },
    )
    mlflow_module().MlflowClient().set_registered_model_alias(model_name(pair), CHALLENGER, version)
    return replaced


def evidence_tags(evidence: Mapping[str, object]) -> dict[str, str]:
    """The evidence of a decision as version tags (``challenge_<field>``; NaN as ``nan``)."""
    tags = {}
    for key in ("n", "settled", "mean_diff", "lower", "upper", "e_value", "threshold", "reason"):
        value = evidence.get(key)
        if isinstance(value, float) and math.isfinite(value):
            value = f"{value:.6g}"
        tags[f"challenge_{key}"] = str(value)
    return tags


def close_challenge(pair: str, version: str, state: str, evidence: Mapping[str, object]) -> None:
    """Record a decided challenge: ``promoted`` moves ``champion``; the alias is removed.

    Args:
        pair: The pair.
        version: The challenger's version.
        state: ``promoted`` or ``rejected``.
        evidence: ``ChallengeEvidence.as_dict()`` plus the reference it was compared with.
    """
    tags = {"challenge_state": state, **evidence_tags(evidence)}
    if state == "promoted":
        tags["decision"] = PROMOTED_LIVE
        tags["reason"] = f"promoted live: {evidence.get('reason')}"
    _tags(pair, version, tags)
    from mlflow.exceptions import MlflowException

    client = mlflow_module().MlflowClient()
    if state == "promoted":
        client.set_registered_model_alias(model_name(pair), CHAMPION, version)
    try:
        client.delete_registered_model_alias(model_name(pair), CHALLENGER)
    except MlflowException as exc:  # already gone (another process decided first)
        log.info("%s: challenger alias already removed: %s", pair, exc)
    log.info("%s: challenger version %s %s (%s)", pair, version, state, evidence.get("reason"))
