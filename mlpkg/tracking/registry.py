"""Model registry: versions of ``mlpkg-<PAIR>``, the ``candidate``/``champion`` aliases, loading.

Promotion rule (written down in README "Model registry"): every trained version gets the alias
``candidate``. ``champion`` moves to it only when its walk-forward mean log loss is strictly
lower than (a) every baseline's on the same folds and (b) the current champion's recorded
walk-forward mean log loss (if there is a champion). Log loss is the metric because it scores
the probability the service reports, not only its side of 0.5.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from mlpkg.errors import ModelNotFoundError
from mlpkg.tracking.pyfunc import ModelBundle, download_bundle

log = logging.getLogger(__name__)

CANDIDATE = "candidate"
CHAMPION = "champion"
PROMOTION_METRIC = "log_loss_mean"


def model_name(pair: str) -> str:
    """Return the registered model name of a pair."""
    return f"mlpkg-{pair}"


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a candidate becomes champion, and why (in words a person can check)."""

    promote: bool
    reason: str


def decide_promotion(
    candidate: float, baselines: Mapping[str, float], champion: float | None
) -> PromotionDecision:
    """Apply the promotion rule to walk-forward mean log losses (lower is better)."""
    if not math.isfinite(candidate):
        return PromotionDecision(False, "candidate log loss is not finite")
    if not baselines:
        return PromotionDecision(False, "no baseline was evaluated on the same folds")
    best_name, best = min(baselines.items(), key=lambda item: item[1])
    if candidate >= best:
        return PromotionDecision(
            False, f"log loss {candidate:.5f} does not beat baseline {best_name} ({best:.5f})"
        )
    if champion is not None and candidate >= champion:
        return PromotionDecision(
            False, f"log loss {candidate:.5f} does not beat the champion ({champion:.5f})"
        )
    against = "no champion yet" if champion is None else f"champion {champion:.5f}"
    return PromotionDecision(
        True, f"log loss {candidate:.5f} beats {best_name} ({best:.5f}) and {against}"
    )


@dataclass(frozen=True)
class VersionInfo:
    """A registered version with its aliases and walk-forward metric."""

    version: str
    run_id: str
    aliases: tuple[str, ...]
    log_loss_mean: float | None
    created_at_ms: int


def register_version(pair: str, model_uri: str, run_id: str) -> str:
    """Register ``model_uri`` as a new version of the pair's model, alias it candidate."""
    name = model_name(pair)
    version = mlflow.register_model(model_uri, name, tags={"run_id": run_id, "pair": pair})
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, CANDIDATE, version.version)
    return str(version.version)


def alias_version(pair: str, alias: str) -> VersionInfo | None:
    """Return the version behind an alias, or None when the alias or model does not exist."""
    client = mlflow.MlflowClient()
    try:
        mv = client.get_model_version_by_alias(model_name(pair), alias)
    except MlflowException:
        return None
    return _version_info(mv)


def list_versions(pair: str) -> list[VersionInfo]:
    """Return all registered versions of a pair, newest first (empty if none)."""
    client = mlflow.MlflowClient()
    try:
        found = client.search_model_versions(f"name='{model_name(pair)}'")
    except MlflowException:
        return []
    infos = [_version_info(mv) for mv in found]
    return sorted(infos, key=lambda v: int(v.version), reverse=True)


def _version_info(mv: object) -> VersionInfo:
    run_id = str(getattr(mv, "run_id", "") or "")
    metric = None
    if run_id:
        metric = mlflow.MlflowClient().get_run(run_id).data.metrics.get(f"lstm_{PROMOTION_METRIC}")
    return VersionInfo(
        version=str(getattr(mv, "version", "")),
        run_id=run_id,
        aliases=tuple(getattr(mv, "aliases", []) or []),
        log_loss_mean=metric,
        created_at_ms=int(getattr(mv, "creation_timestamp", 0) or 0),
    )


def promote(pair: str, version: str) -> None:
    """Point the pair's ``champion`` alias at ``version``."""
    mlflow.MlflowClient().set_registered_model_alias(model_name(pair), CHAMPION, version)
    log.info("%s version %s is now champion", model_name(pair), version)


def load_model(pair: str, alias: str, dst: Path) -> tuple[ModelBundle, VersionInfo]:
    """Load the pair's model behind ``alias`` natively (one call), with its version info.

    Raises:
        ModelNotFoundError: if the pair has no version under that alias.
        ModelLoadError: if the version's files cannot be loaded.
    """
    info = alias_version(pair, alias)
    if info is None:
        versions = list_versions(pair)
        hint = (
            f"versions {', '.join(v.version for v in versions)} exist but none is {alias!r}; "
            f"promote one with `mlpkg promote --pair {pair} --version N`"
            if versions
            else f"train one with `mlpkg train --pair {pair}` (or `make run`)"
        )
        raise ModelNotFoundError(f"No {alias} model for {pair}: {hint}.")
    bundle = download_bundle(f"models:/{model_name(pair)}/{info.version}", dst)
    return bundle, info
