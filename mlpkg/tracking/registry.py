"""Model registry: versions of ``mlpkg-<PAIR>``, the ``candidate``/``champion`` aliases, loading.

Every trained version gets the alias ``candidate``; ``champion`` moves to it only when the
promotion rule (``mlpkg.evaluation.promotion.decide_promotion``, written down in the README)
says so, or by hand (``mlpkg promote``, recorded as manual). Each version carries tags with
what it is and what the rule decided: ``candidate`` (family or ensemble), ``decision``
(``promoted``, ``rejected`` or ``manual``), ``reason``, its development-fold log loss, the
holdout log loss of its procedure **refit on the development period**
(``dev_refit_holdout_log_loss``: the registered model itself is refit on every labelled row,
the holdout included, so it has no holdout score; ``served_fit`` says so) and its
development-fold (walk-forward) accuracy ``dev_accuracy``, so status pages and the live
accuracy alert read them without opening the run.

Only "not found" means there is no such alias or model: any other registry error is raised
(``RegistryError``), never read as "no champion yet", which would pass the rule's champion
condition.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlpkg.config import split_model_key
from mlpkg.errors import ModelNotFoundError, RegistryError
from mlpkg.tracking import registry_store
from mlpkg.tracking.bundle import BUNDLE_DIR, ModelBundle, download_bundle_files, load_bundle
from mlpkg.tracking.connection import mlflow_module, sqlite_store

if TYPE_CHECKING:  # the promotion rule (SciPy) and MLflow stay out of the server's imports
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mlpkg.evaluation.promotion import PromotionDecision

log = logging.getLogger(__name__)

CANDIDATE = "candidate"
CHAMPION = "champion"
DEV_REFIT_HOLDOUT_TAG = "dev_refit_holdout_log_loss"
"""Version tag: the holdout log loss of the procedure refit on the development period."""


def _client() -> MlflowClient:
    """An MLflow client (imports MLflow on first use: writes, and reads of other stores)."""
    client: MlflowClient = mlflow_module().MlflowClient()
    return client


def _mlflow_error() -> type[MlflowException]:
    from mlflow.exceptions import MlflowException

    return MlflowException


def _not_found(exc: MlflowException) -> bool:
    """Whether an MLflow error says the model or alias does not exist (and nothing else)."""
    if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in exc.message


def model_name(pair: str) -> str:
    """Return the registered model name of a pair, or of a model key (``mlpkg-BTC-4h-h6``)."""
    return f"mlpkg-{pair}"


@dataclass(frozen=True)
class VersionInfo:
    """A registered version: aliases, what it is, the rule's decision and its log losses.

    Attributes:
        log_loss_mean: Mean development-fold log loss of the candidate (selection score).
        holdout_log_loss: The holdout log loss of its procedure refit on the development period
            (None if never scored there); the registered model is refit on every row.
        candidate: Family or ensemble name (``lstm``, ``stacked``...).
        decision: ``promoted``, ``rejected``, ``manual`` or ``""`` (registered before tags).
        reason: The rule's one-line reason.
        dev_accuracy: Mean development-fold accuracy of the candidate (None before the tag).
    """

    version: str
    run_id: str
    aliases: tuple[str, ...]
    log_loss_mean: float | None
    created_at_ms: int
    holdout_log_loss: float | None = None
    candidate: str = ""
    decision: str = ""
    reason: str = ""
    dev_accuracy: float | None = None


def is_promoted(info: VersionInfo) -> bool:
    """Whether a version passed the promotion rule, was promoted by hand, or is the champion."""
    return info.decision in ("promoted", "manual", "promoted-live") or CHAMPION in info.aliases


def _number(text: object) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def register_version(
    pair: str,
    model_uri: str,
    run_id: str,
    *,
    candidate: str,
    decision: PromotionDecision,
    dev_log_loss: float,
    holdout_log_loss: float,
    dev_accuracy: float | None = None,
) -> str:
    """Register ``model_uri`` as a new version (alias ``candidate``), tagged with the decision."""
    name = model_name(pair)
    tags = {
        "run_id": run_id,
        "pair": pair,
        "candidate": candidate,
        "decision": "promoted" if decision.promote else "rejected",
        "reason": decision.reason[:4000],
        "dev_log_loss": f"{dev_log_loss:.6f}",
        DEV_REFIT_HOLDOUT_TAG: f"{holdout_log_loss:.6f}",
        "served_fit": "refit on every labelled row, the holdout included (no holdout score)",
    }
    if dev_accuracy is not None and math.isfinite(dev_accuracy):
        tags["dev_accuracy"] = f"{dev_accuracy:.6f}"
    with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints two lines of its own
        version = mlflow_module().register_model(model_uri, name, tags=tags)
    log.info("registered %s version %s (candidate %s)", name, version.version, candidate)
    client = _client()
    client.set_registered_model_alias(name, CANDIDATE, version.version)
    return str(version.version)


def tag_version(
    pair: str, version: str | None, tags: Mapping[str, str], *, run_id: str | None = None
) -> None:
    """Set ``tags`` on a registered version of the pair (if given) and on its run (if given)."""
    client = _client()
    for key, value in tags.items():
        if version is not None:
            client.set_model_version_tag(model_name(pair), version, key, value)
        if run_id is not None:
            client.set_tag(run_id, key, value)


def alias_version(pair: str, alias: str) -> VersionInfo | None:
    """Return the version behind an alias, or None when the alias or model does not exist.

    Raises:
        RegistryError: when the registry cannot answer (anything but "not found").
    """
    db = sqlite_store()
    if db is not None:  # read without MLflow (registry_store)
        row = registry_store.alias_version(db, model_name(pair), alias)
        return None if row is None else _version_info(row)
    try:
        mv = _client().get_model_version_by_alias(model_name(pair), alias)
    except _mlflow_error() as exc:
        if _not_found(exc):
            return None
        raise RegistryError(
            f"Cannot read alias {alias!r} of {model_name(pair)} from the model registry "
            f"({exc.error_code}: {exc.message}). Check MLPKG_TRACKING_URI and the store, then "
            "retry; nothing was decided."
        ) from exc
    return _version_info(mv)


def list_versions(pair: str) -> list[VersionInfo]:
    """Return all registered versions of a pair, newest first (empty if none)."""
    db = sqlite_store()
    found: list[object]
    if db is not None:
        found = list(registry_store.versions(db, model_name(pair)))
    else:
        try:
            found = list(_client().search_model_versions(f"name='{model_name(pair)}'"))
        except _mlflow_error():
            return []
    infos = [_version_info(mv) for mv in found]
    return sorted(infos, key=lambda v: int(v.version), reverse=True)


def _version_info(mv: object) -> VersionInfo:
    tags = dict(getattr(mv, "tags", {}) or {})
    return VersionInfo(
        version=str(getattr(mv, "version", "")),
        run_id=str(getattr(mv, "run_id", "") or ""),
        aliases=tuple(sorted(getattr(mv, "aliases", []) or [])),
        log_loss_mean=_number(tags.get("dev_log_loss")),
        created_at_ms=int(getattr(mv, "creation_timestamp", 0) or 0),
        holdout_log_loss=_number(tags.get(DEV_REFIT_HOLDOUT_TAG, tags.get("holdout_log_loss"))),
        candidate=str(tags.get("candidate", "")),
        decision=str(tags.get("decision", "")),
        reason=str(tags.get("reason", "")),
        dev_accuracy=_number(tags.get("dev_accuracy")),
    )


def promote(pair: str, version: str, *, manual: PromotionDecision | None = None) -> None:
    """Point the pair's ``champion`` alias at ``version`` (``manual``: record it as by hand)."""
    client = _client()
    if manual is not None:
        client.set_model_version_tag(model_name(pair), version, "decision", "manual")
        client.set_model_version_tag(model_name(pair), version, "reason", manual.reason)
    client.set_registered_model_alias(model_name(pair), CHAMPION, version)
    log.info("%s version %s is now champion", model_name(pair), version)


def load_model(pair: str, alias: str, dst: Path) -> tuple[ModelBundle, VersionInfo]:
    """Load the pair's model behind ``alias`` natively (one call), with its version info.

    Raises:
        ModelNotFoundError: if the pair has no version under that alias.
        ModelLoadError: if the version's files cannot be loaded.
    """
    folder, info = download_model(pair, alias, dst)
    return load_bundle(folder), info


def download_model(pair: str, alias: str, dst: Path) -> tuple[Path, VersionInfo]:
    """Download the pair's version behind ``alias`` into ``dst``; return its bundle folder.

    With a SQLite store whose artifacts are local, nothing is copied and MLflow is not imported:
    the folder returned is the version's own bundle folder in the store (read it, never write
    it). Nothing is loaded (no Keras): the server reads the folder with ``mlpkg.serving.runtime``.

    Raises:
        ModelNotFoundError: if the pair has no version under that alias.
        ModelLoadError: if the version's files cannot be downloaded.
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
    local = _local_bundle(pair, alias, info.version)
    if local is not None:
        return local, info
    return download_bundle_files(f"models:/{model_name(pair)}/{info.version}", dst), info


def _local_bundle(pair: str, alias: str, version: str) -> Path | None:
    """The version's bundle folder inside a SQLite store's local artifacts (no copy), if any."""
    db = sqlite_store()
    row = None if db is None else registry_store.alias_version(db, model_name(pair), alias)
    if row is None or row.version != version:
        return None
    folder = registry_store.local_folder(row.storage_location)
    bundle = None if folder is None else folder / "artifacts" / BUNDLE_DIR
    return bundle if bundle is not None and bundle.is_dir() else None


def registered_aliases(pair: str) -> dict[str, str]:
    """Return ``alias -> version`` of the pair's registered model (empty when unregistered).

    ``list_versions`` cannot be used for this: MLflow's version search leaves ``aliases``
    empty.
    """
    db = sqlite_store()
    if db is not None:
        return registry_store.aliases(db, model_name(pair))
    try:
        model = _client().get_registered_model(model_name(pair))
    except _mlflow_error():
        return {}
    return {str(alias): str(version) for alias, version in (model.aliases or {}).items()}


def resolve_alias(
    pair: str, alias: str, fallback: str | None = None
) -> tuple[str, VersionInfo | None]:
    """Return the alias to use for a pair and its version: ``alias``, else ``fallback``.

    The candidate fallback (serve or predict with the ``candidate`` while a pair has no
    ``champion``) is written here once, for the service and the CLI.

    Args:
        pair: A configured pair.
        alias: The alias wanted (e.g. ``champion``).
        fallback: The alias used when ``alias`` has no version (``None``: no fallback).

    Returns:
        ``(fallback, its version)`` when ``alias`` is missing and ``fallback`` exists, else
        ``(alias, its version or None)``.
    """
    info = alias_version(pair, alias)
    if info is None and fallback is not None and fallback != alias:
        fallback_info = alias_version(pair, fallback)
        if fallback_info is not None:
            return fallback, fallback_info
    return alias, info


def model_keys(pair: str | None = None) -> list[str]:
    """The keys of every registered model (of ``pair`` only, when given), sorted.

    A pair may have several models, one per (interval, horizon): ``BTC`` (the default, 1 h and
    h = 5) and e.g. ``BTC-4h-h6`` (``mlpkg.config.model_key``).
    """
    prefix = model_name(pair) if pair else model_name("")
    db = sqlite_store()
    if db is not None:
        names = registry_store.model_names(db, prefix)
    else:
        found = _client().search_registered_models(filter_string=f"name LIKE '{prefix}%'")
        names = [str(model.name) for model in found]
    keys = [name.removeprefix(model_name("")) for name in names]
    parsed = {key: split_model_key(key) for key in keys}
    return sorted(k for k, p in parsed.items() if p is not None and (not pair or p[0] == pair))
