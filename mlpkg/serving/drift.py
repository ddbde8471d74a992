"""Drift and out-of-distribution checks of the served models (rules: ``mlpkg.evaluation.drift``).

- ``check_ood``: the features of the scored candle against the training ranges stored with the
  model; every prediction carries the result (``metadata.ood``, ``oodFeatures``).
- ``DriftMonitor.update``: after each new candle, the PSI of every feature over the last
  ``MLPKG_DRIFT_WINDOW`` (N) closed candles, the features above ``MLPKG_DRIFT_PSI_THRESHOLD``
  and above their in-training noise floor for windows that long, and the accuracy alert over
  the last ``MLPKG_ACCURACY_WINDOW`` (K) settled predictions. The latest result per pair is
  kept in memory; ``/api/models/{pair}/status`` and ``/api/health`` read it without
  computing anything.

A model registered before drift references were stored has none: its predictions answer
``ood: null`` and its PSI is not computed (the status says so).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from mlpkg.config import Settings
from mlpkg.errors import MlpkgError
from mlpkg.evaluation.drift import (
    FeatureReference,
    accuracy_floor,
    flag_drift,
    noise_floor,
    out_of_range,
    parse_reference,
    psi_by_feature,
)
from mlpkg.features.build import warmup_rows
from mlpkg.features.window import window_features
from mlpkg.serving.model_cache import LoadedModel
from mlpkg.storage import PredictionStore
from mlpkg.tracking.history import walk_forward_accuracy

log = logging.getLogger(__name__)

REFERENCE_KEY = "drift_reference"
"""Where ``pipelines.train.final_bundle`` puts the reference in the bundle's ``extra``."""


@dataclass(frozen=True)
class AccuracyCheck:
    """Live accuracy over the last K settled predictions against the walk-forward floor.

    Attributes:
        k: The window (``MLPKG_ACCURACY_WINDOW``).
        settled: Settled predictions in it (the check waits until ``settled == k``).
        correct: Correct ones among them.
        walk_forward: The version's development-fold accuracy (``None``: unknown).
        floor: The 2.5 % binomial quantile of K predictions at that accuracy, over K.
        alert: ``accuracy < floor`` on a full window.
    """

    k: int
    settled: int
    correct: int
    walk_forward: float | None
    floor: float | None
    alert: bool

    @property
    def accuracy(self) -> float | None:
        """Accuracy over the settled ones (``None`` when none is settled)."""
        return self.correct / self.settled if self.settled else None


@dataclass(frozen=True)
class PairDrift:
    """The latest drift result of one pair.

    Attributes:
        version: The model version it was computed for.
        candle_time: The newest candle of the window.
        window: Candles the PSI was computed over (``N``, fewer when history is short).
        psi: Feature -> PSI (empty when the model has no reference).
        flagged: Features with PSI above ``threshold`` and their noise floor, largest first.
        threshold: The PSI threshold.
        floors: Feature -> noise floor: the largest PSI windows of this length reached within
            the training rows.
        has_reference: Whether the model carries a reference distribution.
        accuracy: The accuracy check (``None`` before any settled prediction).
        computed_at: When it was computed (UTC).
    """

    version: str
    candle_time: pd.Timestamp
    window: int
    psi: dict[str, float]
    flagged: list[str]
    threshold: float
    floors: dict[str, float]
    has_reference: bool
    accuracy: AccuracyCheck | None
    computed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def psi_max(self) -> float | None:
        """The largest PSI (``None`` when none was computed)."""
        finite = [v for v in self.psi.values() if math.isfinite(v)]
        return max(finite) if finite else None

    @property
    def alert(self) -> bool:
        """Whether a feature drifted or live accuracy fell below the walk-forward floor."""
        return bool(self.flagged) or bool(self.accuracy and self.accuracy.alert)

    def reasons(self, pair: str) -> list[str]:
        """One line per alert, for ``/api/health`` ``reasons``."""
        lines = []
        if self.flagged:
            top = ", ".join(f"{n} {self.psi[n]:.2f}" for n in self.flagged[:5])
            lines.append(
                f"{pair}: feature drift: {len(self.flagged)} feature(s) with PSI above "
                f"{self.threshold} and above their in-training level over the last "
                f"{self.window} candles ({top}); compare with the training data, retrain "
                f"(POST /api/train/{pair}) if it persists"
            )
        check = self.accuracy
        if check is not None and check.alert and check.accuracy is not None:
            lines.append(
                f"{pair}: live accuracy {check.accuracy:.3f} over the last {check.k} settled "
                f"predictions of version {self.version} is below its walk-forward lower bound "
                f"{check.floor:.3f} (walk-forward accuracy {check.walk_forward:.3f}); retrain or "
                "roll back"
            )
        return lines


class ReferenceCache:
    """Parsed drift references, one per (pair, version), read from the model bundle once."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], dict[str, FeatureReference] | None] = {}
        self._lock = threading.Lock()

    def get(self, model: LoadedModel) -> dict[str, FeatureReference] | None:
        """The model's reference, or ``None`` when it has none (or it is unreadable)."""
        key = (model.pair, model.version)
        with self._lock:
            if key in self._parsed:
                return self._parsed[key]
        raw = getattr(model.bundle, "extra", {}).get(REFERENCE_KEY)
        parsed = None
        if isinstance(raw, dict):
            try:
                parsed = parse_reference(raw)
            except MlpkgError as exc:
                log.warning("%s version %s: %s", model.pair, model.version, exc)
        with self._lock:
            self._parsed[key] = parsed
        return parsed


def feature_rows(model: LoadedModel, candles: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The last ``rows`` feature rows (fewer when the history is shorter), named columns."""
    config = model.bundle.run_config.features
    rows = max(1, min(rows, len(candles) - warmup_rows(config)))
    # The pair's own features: the cross-asset ones (last columns) would need every reference.
    values = window_features(candles, config.model_copy(update={"cross_assets": ()}), rows)
    names = model.bundle.feature_names[: values.shape[1]]
    return pd.DataFrame(values, columns=names, index=candles.index[-rows:])


def check_ood(
    references: ReferenceCache,
    model: LoadedModel,
    candles: pd.DataFrame,
    row: np.ndarray | None = None,
) -> list[str] | None:
    """Features of the latest candle outside the training ``[min, max]`` (``None``: no ref).

    ``row``: the latest candle's features when the caller has them already (the scoring
    computed them: ``LatestPrediction.feature_row``), so they are not computed twice.
    """
    reference = references.get(model)
    if reference is None:
        return None
    if row is None:
        row = feature_rows(model, candles, 1).to_numpy()[-1]
    names = model.bundle.feature_names
    return out_of_range(reference, {str(k): float(v) for k, v in zip(names, row, strict=True)})


class DriftMonitor:
    """Computes and keeps the latest ``PairDrift`` of every pair.

    Args:
        settings: ``drift_window``, ``drift_psi_threshold``, ``accuracy_window``.
        store: The prediction store (last K settled predictions).
        references: The shared reference cache.
    """

    def __init__(
        self, settings: Settings, store: PredictionStore, references: ReferenceCache
    ) -> None:
        self.window = settings.drift_window
        self.threshold = settings.drift_psi_threshold
        self.k = settings.accuracy_window
        self.store = store
        self.references = references
        self._latest: dict[str, PairDrift] = {}

    def update(self, model: LoadedModel, candles: pd.DataFrame) -> PairDrift:
        """Recompute the pair's drift on its latest closed candles (blocking: SQLite, numpy)."""
        reference = self.references.get(model)
        psi: dict[str, float] = {}
        floors: dict[str, float] = {}
        used = 0
        if reference is not None:
            live = feature_rows(model, candles, self.window)
            used = len(live)
            psi = psi_by_feature(reference, live)
            floors = {name: noise_floor(ref, used) for name, ref in reference.items()}
        result = PairDrift(
            version=model.version,
            candle_time=pd.Timestamp(candles.index[-1]),
            window=used,
            psi=psi,
            flagged=flag_drift(psi, self.threshold, floors),
            threshold=self.threshold,
            floors=floors,
            has_reference=reference is not None,
            accuracy=self._accuracy(model),
        )
        self._latest[model.pair] = result
        return result

    def _accuracy(self, model: LoadedModel) -> AccuracyCheck | None:
        settled, correct = self.store.recent_settled(model.pair, model.version, self.k)
        if settled == 0:
            return None
        walk_forward = walk_forward_accuracy(model.info)
        floor = accuracy_floor(walk_forward, self.k) if walk_forward is not None else None
        alert = floor is not None and settled == self.k and correct / settled < floor
        return AccuracyCheck(self.k, settled, correct, walk_forward, floor, alert)

    def latest(self, pair: str) -> PairDrift | None:
        """The pair's latest result (no I/O)."""
        return self._latest.get(pair)

    def forget(self, pair: str) -> None:
        """Drop a pair's result (its model changed)."""
        self._latest.pop(pair, None)
