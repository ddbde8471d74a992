"""``/api/models``: every registered model; ``/{pair}``: what is served and why, and ``reload``.

The status reads MLflow (the registered versions, their aliases and the walk-forward metrics of
the version behind the served alias), the prediction store's counters (live accuracy per
version, no table scan) and the live loop's latest drift check.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from mlpkg.config import DEFAULT_HORIZON, DEFAULT_INTERVAL, split_model_key
from mlpkg.errors import ChallengerNotFoundError
from mlpkg.serving.bodies import accuracy_body, drift_body
from mlpkg.serving.deps import AuthDep, PairDep, StateDep
from mlpkg.serving.errors import CHALLENGER_ERRORS, PAIR_AUTH_ERRORS, PAIR_ERRORS
from mlpkg.serving.model_cache import PairSlot
from mlpkg.serving.pnl import pnl_body, policy_body
from mlpkg.serving.runtime import RuntimeBundle
from mlpkg.serving.schemas import (
    ChallengeOut,
    LiveAccuracy,
    MemberOut,
    ModelEntry,
    ModelHealth,
    ModelListResponse,
    ModelStatusResponse,
    ReloadResponse,
    VersionMetricsOut,
    VersionOut,
    now_ms,
)
from mlpkg.serving.state import ServingState
from mlpkg.tracking import registry
from mlpkg.tracking.metrics import version_metrics

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("")
def get_models(state: StateDep) -> ModelListResponse:
    """Every registered model: one per pair and (interval, horizon), with its live accuracy."""
    entries = []
    for key in registry.model_keys():
        pair, interval, horizon = split_model_key(key) or (key, DEFAULT_INTERVAL, DEFAULT_HORIZON)
        loaded = state.models.peek(key)
        entries.append(
            ModelEntry(
                pair=pair,
                key=key,
                model_name=registry.model_name(key),
                interval=interval,
                horizon=horizon,
                calendar=loaded.bundle.run_config.calendar if loaded else None,
                loaded_version=loaded.version if loaded else None,
                live_accuracy=LiveAccuracy.model_validate(state.store.live_accuracy(key)),
            )
        )
    return ModelListResponse(models=entries, timestamp=now_ms())


@router.get("/{pair}/status", responses=PAIR_ERRORS)
def get_model_status(pair: PairDep, state: StateDep) -> ModelStatusResponse:
    """Registered versions, the served version's walk-forward metrics, live accuracy."""
    return model_status(state, pair)


@router.get("/{pair}/challenger", responses=CHALLENGER_ERRORS)
def get_challenger(pair: PairDep, state: StateDep) -> ChallengeOut:
    """The live challenger: settled shadow candles, mean loss difference, interval, state.

    The pending challenger's evidence now, or the last decision since the service started.
    """
    challenge = state.live.challenge.current(pair)
    if challenge is None:
        raise ChallengerNotFoundError(
            f"{pair} has no challenger: periodic and drift retrains register one "
            "(MLPKG_RETRAIN_EVERY, MLPKG_RETRAIN_ON_DRIFT)."
        )
    return challenge.body()


@router.post("/{pair}/reload", dependencies=[AuthDep], responses=PAIR_AUTH_ERRORS)
def post_reload(pair: PairDep, state: StateDep) -> ReloadResponse:
    """Re-read the alias now and load its version (a failed load keeps the served model)."""
    outcome = state.models.refresh(pair, force=True)
    loaded = model_health(state.models.snapshot(pair), state.models.alias)
    return ReloadResponse(pair=pair, outcome=outcome.value, loaded=loaded)


def model_health(slot: PairSlot, alias: str) -> ModelHealth:
    """Describe what is served for one pair (no I/O; also used by ``/api/health``).

    Args:
        slot: The pair's ``ModelCache.snapshot``.
        alias: The configured alias; a model served from another one gets a ``note``.
    """
    model = slot.model
    if model is None:
        return ModelHealth(loaded=False, alias=alias, error=slot.error or slot.missing)
    note = None
    if model.alias != alias:
        note = (
            f"no {alias} yet (no version passed the promotion rule); serving the {model.alias}, "
            f"version {model.version}"
        )
        if not model.promoted:
            note += " with signal HOLD (not promoted)"
    return ModelHealth.from_object(
        model,
        loaded=True,
        note=note,
        run_id=model.info.run_id,
        age_seconds=round((datetime.now(UTC) - model.loaded_at).total_seconds(), 3),
        registered_at=_from_ms(model.info.created_at_ms),
        error=slot.error,
        candidate=model.bundle.candidate,
        members=member_health(model.bundle),
    )


def member_health(bundle: RuntimeBundle) -> dict[str, MemberOut]:
    """Each member of a loaded version: family, runtime, weight, development log loss."""
    total = sum(bundle.weights.values())
    return {
        name: MemberOut(
            family=member.family,
            runtime=member.runtime,
            weight=bundle.weights[name] / total,
            dev_log_loss=bundle.member_scores.get(name),
        )
        for name, member in bundle.members.items()
    }


def model_status(state: ServingState, pair: str) -> ModelStatusResponse:
    """Build the ``/api/models/{pair}/status`` body (MLflow and SQLite reads)."""
    alias = state.models.alias
    slot = state.models.snapshot(pair)
    versions = registry.list_versions(pair)
    aliases = registry.registered_aliases(pair)
    behind_alias = next((v for v in versions if v.version == aliases.get(alias)), None)
    by_version = accuracy_body(state.store, pair, slot.model) if slot.model else None
    every_version = [
        accuracy_body(state.store, pair, slot.model, version)
        for version in state.store.accuracy_by_version(pair)
    ]
    return ModelStatusResponse(
        pair=pair,
        model_name=registry.model_name(pair),
        alias=alias,
        loaded=model_health(slot, alias),
        versions=[_version_out(v, aliases) for v in versions],
        champion=_metrics(behind_alias),
        served=_metrics(slot.model.info if slot.model else None),
        live_accuracy=LiveAccuracy.model_validate(state.store.live_accuracy(pair)),
        live_accuracy_loaded_version=by_version,
        live_accuracy_by_version=every_version,
        signal_policy=policy_body(slot.model, state.settings) if slot.model else None,
        live_pnl_by_version=pnl_body(state.store, pair),
        drift=drift_body(state.live.drift(pair)),
        challenge=_challenge(state, pair),
        timestamp=now_ms(),
    )


def _challenge(state: ServingState, pair: str) -> ChallengeOut | None:
    challenge = state.live.challenge.current(pair)
    return None if challenge is None else challenge.body()


def _metrics(info: registry.VersionInfo | None) -> VersionMetricsOut | None:
    if info is None:
        return None
    return VersionMetricsOut.model_validate(version_metrics(info), from_attributes=True)


def _version_out(version: registry.VersionInfo, aliases: dict[str, str]) -> VersionOut:
    return VersionOut.from_object(
        version,
        aliases=sorted(a for a, v in aliases.items() if v == version.version),
        created_at=_from_ms(version.created_at_ms),
    )


def _from_ms(value: int) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value else None
