"""The models being served: one per pair, loaded from the registry alias with light runtimes.

Each version is read by ``mlpkg.serving.runtime`` (ONNX Runtime for the neural members, the
booster for LightGBM, NumPy for logistic; Keras only for a neural member registered without
ONNX), so a server whose versions all carry ONNX never imports TensorFlow.

A model that fails to load never replaces a working one: the old version keeps answering and
the error is kept for ``/api/health`` and ``/api/models/{pair}/status``. A version that failed
is not downloaded again on every poll (only when the alias moves or a reload is forced).

Threading: ``refresh`` blocks (MLflow, file downloads) and runs in worker threads; a lock per
pair serialises loads of the same pair. ``get`` and ``snapshot`` never block on a load.
``LoadedModel.score`` runs concurrently (ONNX Runtime sessions are thread-safe; a Keras member
holds its own lock).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from mlpkg.config import Settings
from mlpkg.errors import ModelLoadError, ModelNotFoundError
from mlpkg.features.build import feature_names
from mlpkg.models.inference import LatestPrediction, score_latest
from mlpkg.models.signals import POLICY_META, Signal, SignalPolicy, signal_thresholds
from mlpkg.serving.runtime import RuntimeBundle, load_runtime_bundle
from mlpkg.tracking import registry

log = logging.getLogger(__name__)


class RefreshOutcome(StrEnum):
    """What a refresh did."""

    LOADED = "loaded"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    MISSING = "missing"


@dataclass(frozen=True)
class LoadedModel:
    """A registered version loaded in memory, ready to score."""

    pair: str
    alias: str
    bundle: RuntimeBundle
    info: registry.VersionInfo
    loaded_at: datetime

    @property
    def name(self) -> str:
        """The registered model name (``mlpkg-<PAIR>``)."""
        return registry.model_name(self.pair)

    @property
    def version(self) -> str:
        """The registered version number."""
        return self.info.version

    @property
    def promoted(self) -> bool:
        """Whether this version passed the promotion rule (or was promoted by hand).

        A candidate served as a fallback answers with its probability but signal ``HOLD``.
        """
        return registry.is_promoted(self.info)

    @property
    def runtime(self) -> str:
        """What runs it: ``onnxruntime``, ``lightgbm``, ``numpy``, ``keras`` (``+``-joined)."""
        return self.bundle.runtime

    @property
    def policy(self) -> SignalPolicy | None:
        """The version's signal policy (chosen on its development folds); None before it had one."""
        data = self.bundle.extra.get(POLICY_META)
        return SignalPolicy.from_dict(data) if data else None

    def thresholds(self, settings: Settings) -> tuple[float, float]:
        """``(strong, normal)``: ``MLPKG_SIGNAL_*`` if set, else the policy, else the fallback."""
        return signal_thresholds(
            self.policy,
            strong=settings.signal_strong,
            normal=settings.signal_normal,
            overridden=settings.signals_overridden,
        )

    def position(self, signal: Signal) -> float:
        """The position a served signal stands for (a version without a policy: long/flat)."""
        return (self.policy or SignalPolicy(0.0, 0.0)).position(signal)

    def score(
        self,
        candles: pd.DataFrame,
        *,
        strong: float,
        normal: float,
        member: str | None = None,
        references: Mapping[str, pd.DataFrame] | None = None,
    ) -> LatestPrediction:
        """Score the latest candle: the candidate, or one ``member``'s own P(up).

        ``references``: the cross assets' candles (one window each) when the model reads them.
        """
        return score_latest(
            self.bundle,
            candles,
            strong=strong,
            normal=normal,
            promoted=self.promoted,
            member=member,
            references=references,
        )


@dataclass
class PairSlot:
    """What the cache knows about one pair."""

    model: LoadedModel | None = None
    error: str | None = None
    failed_version: str | None = None
    missing: str | None = None
    checked_at: datetime | None = None


def how_to_train(pair: str) -> str:
    """The hint every 'no model' answer carries."""
    return f"train one with `mlpkg train --pair {pair}` or `POST /api/train/{pair}`"


def warm_up(bundle: RuntimeBundle) -> None:
    """Check the model can score what serving feeds it, and run every member once.

    Serving builds features with the bundle's ``FeatureConfig``; a network trained on other
    columns (metadata and weights from different runs) would fail every request, so it is
    refused here and the version already served keeps answering.

    Raises:
        ModelLoadError: if the config's features differ from the network's, or the model
            yields no finite probability on a test window.
    """
    names = bundle.feature_names
    built = feature_names(bundle.run_config.features)
    if built != names:
        raise ModelLoadError(_feature_mismatch(built, names))
    zeros = np.zeros((bundle.context_rows + 1, len(names)))
    proba = bundle.combine(bundle.member_probas(zeros))
    if not np.isfinite(proba[-1]):
        raise ModelLoadError("The model produced no finite probability on a test window.")


def _feature_mismatch(built: list[str], trained: list[str]) -> str:
    extra = [n for n in built if n not in trained][:5]
    missing = [n for n in trained if n not in built][:5]
    return (
        f"The model's feature config builds {len(built)} features but its network was trained "
        f"on {len(trained)} (not trained on: {', '.join(extra) or 'none'}; not built: "
        f"{', '.join(missing) or 'none'}; or another order). Its metadata and weights do not "
        "belong together: retrain the pair."
    )


class ModelCache:
    """The served model of every configured pair.

    Args:
        pairs: The configured pairs.
        alias: The registry alias to serve (``champion`` or ``candidate``).
        fallback: The alias served while a pair has none under ``alias`` (``None``: none). The
            served model carries the alias it was loaded from, and health and responses say so.
    """

    def __init__(self, pairs: Sequence[str], alias: str, fallback: str | None = None) -> None:
        self.pairs = tuple(pairs)
        self.alias = alias
        self.fallback = fallback if fallback != alias else None
        self._slots = {pair: PairSlot() for pair in self.pairs}
        self._locks = {pair: threading.Lock() for pair in self.pairs}
        self._guard = threading.Lock()
        self.load_failures: dict[str, int] = dict.fromkeys(self.pairs, 0)
        """Versions that failed to load, per pair, since start (``/metrics``)."""

    def get(self, pair: str) -> LoadedModel:
        """Return the pair's loaded model.

        Raises:
            ModelNotFoundError: if no version is registered under the alias.
            ModelLoadError: if the version behind the alias failed to load and none is loaded.
        """
        slot = self._slot(pair)
        if slot.model is not None:
            return slot.model
        if slot.error is not None:
            raise ModelLoadError(f"No model is loaded for {pair}: {slot.error}")
        raise ModelNotFoundError(
            slot.missing or f"No {self.alias} model for {pair} yet: {how_to_train(pair)}."
        )

    def peek(self, pair: str) -> LoadedModel | None:
        """Return the pair's loaded model or ``None`` (never raises, never blocks)."""
        slot = self._slots.get(pair)
        return None if slot is None else slot.model

    def forget(self, pair: str) -> None:
        """Drop the pair's model (its alias was removed on purpose: a decided challenger).

        The next ``refresh`` loads whatever the alias then names.
        """
        with self._locks[pair]:
            self._slots[pair] = PairSlot()

    def snapshot(self, pair: str) -> PairSlot:
        """Return a copy of what is known about the pair (for health and status)."""
        slot = self._slot(pair)
        return PairSlot(slot.model, slot.error, slot.failed_version, slot.missing, slot.checked_at)

    def _slot(self, key: str) -> PairSlot:
        """The slot of a pair or of another model of a pair (``BTC-4h-h6``), made on first use."""
        with self._guard:
            if key not in self._slots:
                self._slots[key] = PairSlot()
                self._locks[key] = threading.Lock()
                self.load_failures.setdefault(key, 0)
            return self._slots[key]

    def track_registered(self) -> tuple[str, ...]:
        """Add every registered model of the configured pairs (``BTC-4h-h6``) to the cache.

        The next ``refresh_all`` loads them, so the live loop scores each one on its own candles
        from the start instead of after its first request.

        Returns:
            The keys added.
        """
        added = []
        for pair in self.pairs:
            try:
                keys = registry.model_keys(pair)
            except Exception as exc:  # the registry store itself is unreachable or broken
                log.warning("%s: cannot list its registered models: %s", pair, exc)
                continue
            for key in keys:
                if key not in self._slots:
                    self._slot(key)
                    added.append(key)
        return tuple(added)

    def keys(self) -> tuple[str, ...]:
        """The pairs, then the other models asked for (``BTC-4h-h6``), as served."""
        with self._guard:
            return tuple(self._slots)

    def refresh_all(self) -> dict[str, RefreshOutcome]:
        """Refresh every pair and other model asked for (blocking); failures stay separate."""
        return {key: self.refresh(key) for key in self.keys()}

    def refresh(self, pair: str, *, force: bool = False) -> RefreshOutcome:
        """Load the version behind the alias if it is not the one being served (blocking).

        Args:
            pair: A configured pair.
            force: Retry a version that failed before.
        """
        slot = self._slot(pair)
        with self._locks[pair]:
            slot.checked_at = datetime.now(UTC)
            try:
                served, info = registry.resolve_alias(pair, self.alias, self.fallback)
            except Exception as exc:  # the registry store itself is unreachable or broken
                log.warning("%s: cannot read the registry: %s", pair, exc)
                slot.error = f"Cannot read the model registry: {exc}"
                return RefreshOutcome.FAILED
            if info is None:
                return self._mark_missing(pair, slot)
            model = slot.model
            if model is not None and (model.version, model.alias) == (info.version, served):
                slot.error = slot.failed_version = None
                return RefreshOutcome.UNCHANGED
            if not force and slot.failed_version == info.version:
                return RefreshOutcome.FAILED
            return self._load(pair, slot, info.version, served)

    def _mark_missing(self, pair: str, slot: PairSlot) -> RefreshOutcome:
        name = registry.model_name(pair)
        if slot.model is not None:
            slot.error = (
                f"The {self.alias!r} alias of {name} no longer exists; still serving version "
                f"{slot.model.version}."
            )
            return RefreshOutcome.MISSING
        versions = registry.list_versions(pair)
        hint = (
            f"versions {', '.join(v.version for v in versions)} exist but none is "
            f"{self.alias!r}: promote one with `mlpkg promote --pair {pair} --version N`, or "
            f"{how_to_train(pair)}"
            if versions
            else how_to_train(pair)
        )
        slot.missing = f"No {self.alias} model is registered for {pair}: {hint}."
        slot.error = slot.failed_version = None
        return RefreshOutcome.MISSING

    def _load(self, pair: str, slot: PairSlot, version: str, alias: str) -> RefreshOutcome:
        try:
            with tempfile.TemporaryDirectory(prefix="mlpkg-model-") as tmp:
                folder, info = registry.download_model(pair, alias, Path(tmp))
                bundle = load_runtime_bundle(folder)  # everything is read into memory here
            warm_up(bundle)
        except ModelNotFoundError:
            return self._mark_missing(pair, slot)
        except Exception as exc:  # any load failure must leave the served model in place
            kept = f"; still serving version {slot.model.version}" if slot.model else ""
            name = registry.model_name(pair)
            slot.error = f"Version {version} of {name} failed to load{kept}: {exc}"
            slot.failed_version = version
            self.load_failures[pair] += 1
            log.error("%s: %s", pair, slot.error)
            return RefreshOutcome.FAILED
        slot.model = LoadedModel(pair, alias, bundle, info, datetime.now(UTC))
        slot.error = slot.failed_version = slot.missing = None
        log.info(
            "%s: serving %s version %s (%s, %s on %s)",
            pair,
            slot.model.name,
            info.version,
            alias,
            bundle.candidate,
            bundle.runtime,
        )
        return RefreshOutcome.LOADED
