"""Serve predictions: candles -> loaded model -> described prediction, cached and stored.

A fresh prediction is committed to the ``PredictionStore`` before it is answered; a cache hit
(same pair, same latest candle, same model version, younger than ``prediction_cache_s``) is
answered from memory and not stored again. Each time a pair's candles move on, the pending
predictions whose target candle is now known get their outcome (``fill_outcomes``).

Everything here blocks (pandas, Keras, SQLite): call it from ``def`` routes or worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from mlpkg.config import FeatureConfig, Settings
from mlpkg.features.build import build_features, warmup_rows
from mlpkg.models.signals import DirectionPrediction, describe_prediction
from mlpkg.pipelines.predict import LatestPrediction
from mlpkg.serving.candles import CandleFeed
from mlpkg.serving.model_cache import LoadedModel, ModelCache
from mlpkg.storage import PredictionRecord, PredictionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedPrediction:
    """A computed prediction, the model that made it and where it was stored."""

    pair: str
    latest: LatestPrediction
    described: DirectionPrediction
    model: LoadedModel
    computed_at: datetime
    prediction_id: int


@dataclass(frozen=True)
class CacheAnswer:
    """A prediction and whether it came from the cache (with its age in seconds)."""

    served: ServedPrediction
    cached: bool
    age_s: float


@dataclass(frozen=True)
class LatestFeatures:
    """The feature row of a pair's latest candle."""

    pair: str
    names: list[str]
    values: list[float | None]
    candle_time: pd.Timestamp
    model_version: str | None


CacheKey = tuple[str, pd.Timestamp, str]


class Predictor:
    """Computes, caches and records predictions of every configured pair."""

    def __init__(
        self, settings: Settings, models: ModelCache, feed: CandleFeed, store: PredictionStore
    ) -> None:
        self.settings = settings
        self.models = models
        self.feed = feed
        self.store = store
        self.cache_s = settings.prediction_cache_s
        self._cache: dict[str, tuple[CacheKey, float, ServedPrediction]] = {}
        self._pair_locks = {pair: threading.Lock() for pair in settings.pairs}
        self._filled_through: dict[str, pd.Timestamp] = {}

    @property
    def cached_count(self) -> int:
        """How many predictions are held in the cache."""
        return len(self._cache)

    def predict(self, pair: str) -> CacheAnswer:
        """Return the pair's prediction for its latest candle (from the cache when fresh).

        Raises:
            ModelNotFoundError, ModelLoadError: no usable model for the pair.
            DataSourceError, UpstreamUnavailableError, CandleValidationError: no usable candles.
        """
        model = self.models.get(pair)
        candles = self.feed.candles(pair, model.bundle.history_rows)
        key: CacheKey = (pair, pd.Timestamp(candles.index[-1]), model.version)
        if self.cache_s <= 0:
            return CacheAnswer(self._compute(pair, model, candles), cached=False, age_s=0.0)
        with self._pair_locks[pair]:
            hit = self._lookup(key)
            if hit is not None:
                return hit
            served = self._compute(pair, model, candles)
            self._cache[pair] = (key, time.monotonic(), served)
        return CacheAnswer(served, cached=False, age_s=0.0)

    def peek(self, pair: str) -> CacheAnswer | None:
        """Return a fresh cached answer without blocking, or ``None`` (then call ``predict``).

        Safe on the event loop: no I/O and no lock, only dictionary reads.
        """
        if self.cache_s <= 0:
            return None
        model = self.models.peek(pair)
        candles = self.feed.peek(pair)
        if model is None or candles is None:
            return None
        return self._lookup((pair, pd.Timestamp(candles.index[-1]), model.version))

    def _lookup(self, key: CacheKey) -> CacheAnswer | None:
        entry = self._cache.get(key[0])
        if entry is None or entry[0] != key:
            return None
        age = time.monotonic() - entry[1]
        return CacheAnswer(entry[2], cached=True, age_s=age) if age < self.cache_s else None

    def _compute(self, pair: str, model: LoadedModel, candles: pd.DataFrame) -> ServedPrediction:
        latest = model.score(candles)
        thresholds = {"strong": self.settings.signal_strong, "normal": self.settings.signal_normal}
        described = describe_prediction(latest.probability, **thresholds)
        now = datetime.now(UTC)
        record = PredictionRecord.create(
            pair=pair,
            predicted_at=now,
            candle_time=latest.candle_time,
            horizon=latest.horizon,
            interval=model.bundle.candle_interval,
            probability=described.probability,
            direction=described.direction,
            confidence=described.confidence,
            signal=described.signal,
            model_name=model.name,
            model_version=model.version,
            run_id=model.info.run_id or None,
            close_at_prediction=latest.close,
        )
        prediction_id = self.store.add(record)
        self.fill_outcomes(pair, candles)
        return ServedPrediction(pair, latest, described, model, now, prediction_id)

    def fill_outcomes(self, pair: str, candles: pd.DataFrame) -> int:
        """Settle pending predictions with the closes not seen before (all of them at first).

        Returns:
            The number of predictions that got an outcome.
        """
        last = self._filled_through.get(pair)
        closes = candles["close"] if last is None else candles["close"].loc[candles.index > last]
        if closes.empty:
            return 0
        filled = self.store.fill_outcomes(pair, closes)
        self._filled_through[pair] = pd.Timestamp(candles.index[-1])
        return filled

    def features(self, pair: str) -> LatestFeatures:
        """Return the features of the latest candle, built with the served model's config.

        Without a loaded model the default ``FeatureConfig`` is used.
        """
        model = self.models.peek(pair)
        config = model.bundle.run_config.features if model else FeatureConfig()
        rows = warmup_rows(config) + 1
        candles = self.feed.candles(pair, max(rows, model.bundle.history_rows if model else 0))
        row = build_features(candles.iloc[-rows:], config).iloc[-1]
        return LatestFeatures(
            pair=pair,
            names=[str(n) for n in row.index],
            values=[None if pd.isna(v) else float(v) for v in row.to_numpy()],
            candle_time=pd.Timestamp(candles.index[-1]),
            model_version=model.version if model else None,
        )
