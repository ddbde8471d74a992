"""Serve predictions: candles -> loaded model -> described prediction, cached and stored.

The candles come from ``mlpkg.serving.feed.CandleFeed`` (closed candles of the configured
source).

``Predictor`` commits a fresh prediction to the ``PredictionStore`` before it is answered. The
store keeps one prediction per (pair, model version, candle): a request for a candle already
scored answers the stored prediction. A cache hit (same pair, same latest candle, same model
version, younger than ``prediction_cache_s``) is answered from memory. Each time a pair's
candles move on, the pending predictions whose target candle has closed get their outcome
(``fill_outcomes``). Each prediction says whether its input lies outside the training ranges
(``ood``, ``mlpkg.serving.drift.check_ood``).

Everything here blocks (pandas, Keras, SQLite, HTTP) except the ``peek`` methods: call it from
``def`` routes or worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import pandas as pd

from mlpkg.config import FeatureConfig, Settings
from mlpkg.data.calendars import calendar_of
from mlpkg.data.resample import reference_candles, to_interval
from mlpkg.errors import DataSourceError, ModelNotFoundError, UnknownModelError
from mlpkg.features.build import build_features, warmup_rows
from mlpkg.features.cross_asset import reference_pairs
from mlpkg.models.inference import LatestPrediction
from mlpkg.models.signals import DirectionPrediction, Signal
from mlpkg.serving.drift import ReferenceCache, check_ood
from mlpkg.serving.feed import CandleFeed
from mlpkg.serving.model_cache import LoadedModel, ModelCache
from mlpkg.storage import PredictionRecord, PredictionStore
from mlpkg.storage.predictions import Role
from mlpkg.tracking import registry

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
    ood: list[str] | None = None


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


CacheKey = tuple[str, pd.Timestamp, str, str]
"""(pair, latest candle, model version, member or ``''`` for the candidate)."""


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
        self._cache: dict[tuple[str, str], tuple[CacheKey, float, ServedPrediction]] = {}
        self._pair_locks = {pair: threading.Lock() for pair in settings.pairs}
        self._guard = threading.Lock()
        self._filled_through: dict[str, pd.Timestamp] = {}
        self.references = ReferenceCache()

    @property
    def cached_count(self) -> int:
        """How many predictions are held in the cache."""
        return len(self._cache)

    def predict(
        self, pair: str, *, model_param: str | None = None, ensemble: bool = True
    ) -> CacheAnswer:
        """Return the pair's prediction for its latest candle (from the cache when fresh).

        Args:
            pair: A configured pair.
            model_param: A member asked for by name (``?model=gru``): its own prediction.
            ensemble: ``False``: an ensemble version answers with its best single member.

        Raises:
            ModelNotFoundError, ModelLoadError: no usable model for the pair.
            UnknownMemberError: the served version holds no ``model_param`` member.
            DataSourceError, UpstreamUnavailableError, CandleValidationError: no usable candles.
        """
        model = self.models.get(pair)
        member = model.bundle.resolve_member(model_param, ensemble)
        candles = self.feed.candles(pair, model.bundle.history_rows, model.bundle.candle_interval)
        key: CacheKey = (pair, pd.Timestamp(candles.index[-1]), model.version, member or "")
        if self.cache_s <= 0:
            served = self._compute(pair, model, candles, member)
            return CacheAnswer(served, cached=False, age_s=0.0)
        with self._pair_locks[pair]:
            hit = self._lookup(key)
            if hit is not None:
                return hit
            served = self._compute(pair, model, candles, member)
            self._cache[(pair, member or "")] = (key, time.monotonic(), served)
        return CacheAnswer(served, cached=False, age_s=0.0)

    def predict_model(
        self, pair: str, key: str, *, model_param: str | None = None, ensemble: bool = True
    ) -> CacheAnswer:
        """The prediction of another model of the pair (``key``: ``BTC-4h-h6``), not cached.

        The model is loaded on first use (then refreshed with the others); the pair's candles
        are put on its interval along its calendar's sessions (``mlpkg.data.resample``), and its
        predictions and outcomes are stored under ``key``: its own closed candles, its own live
        accuracy.

        Raises:
            UnknownModelError: no such model is registered (the message names the pair's
                models).
        """
        if self.models.peek(key) is None:
            self.models.refresh(key)
        try:
            model = self.models.get(key)
        except ModelNotFoundError:
            available = ", ".join(registry.model_keys(pair)) or "none"
            raise UnknownModelError(
                f"No model {registry.model_name(key)} is registered. Models of {pair}: "
                f"{available} (<PAIR>-<interval>-h<horizon>; the bare pair is 1h, h=5). Train "
                f"one with `mlpkg train --pair {pair} --interval I --horizon H`."
            ) from None
        member = model.bundle.resolve_member(model_param, ensemble)
        with self._model_lock(key):
            served = self._compute(key, model, self.model_candles(pair, model), member)
        return CacheAnswer(served, cached=False, age_s=0.0)

    def _model_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._pair_locks.setdefault(key, threading.Lock())

    def model_candles(self, pair: str, model: LoadedModel) -> pd.DataFrame:
        """The pair's closed candles on the model's interval (resampled when finer)."""
        features = model.bundle.run_config.features
        interval = model.bundle.candle_interval
        candles = self.feed.candles(pair, 0, None)
        candles = to_interval(candles, interval, calendar_of(features), origin=f"{pair} candles")
        if len(candles) < model.bundle.history_rows:
            raise DataSourceError(
                f"{pair} has {len(candles)} closed candles of {features.interval}; the model "
                f"{model.name} needs {model.bundle.history_rows}. Provide more history."
            )
        return candles

    def peek(
        self, pair: str, *, model_param: str | None = None, ensemble: bool = True
    ) -> CacheAnswer | None:
        """Return a fresh cached answer without blocking, or ``None`` (then call ``predict``).

        Safe on the event loop: no I/O and no lock, only dictionary reads.
        """
        if self.cache_s <= 0:
            return None
        model = self.models.peek(pair)
        candles = self.feed.peek(pair)
        if model is None or candles is None or model_param not in (None, *model.bundle.members):
            return None
        member = model.bundle.resolve_member(model_param, ensemble) or ""
        return self._lookup((pair, pd.Timestamp(candles.index[-1]), model.version, member))

    def _lookup(self, key: CacheKey) -> CacheAnswer | None:
        entry = self._cache.get((key[0], key[3]))
        if entry is None or entry[0] != key:
            return None
        age = time.monotonic() - entry[1]
        return CacheAnswer(entry[2], cached=True, age_s=age) if age < self.cache_s else None

    def score_candles(
        self, pair: str, model: LoadedModel, candles: pd.DataFrame, role: Role = "served"
    ) -> ServedPrediction:
        """Score the last of ``candles`` (closed ones, oldest first) and store it once.

        The live loop uses it to score a candle it missed (catching up), and a challenger in
        shadow (``role='challenger'``); answers are not cached. A candle already stored for
        this version answers the stored prediction.
        """
        return self._compute(pair, model, candles, role=role)

    def _compute(
        self,
        pair: str,
        model: LoadedModel,
        candles: pd.DataFrame,
        member: str | None = None,
        role: Role = "served",
    ) -> ServedPrediction:
        strong, normal = model.thresholds(self.settings)
        latest = model.score(
            candles,
            strong=strong,
            normal=normal,
            member=member,
            references=self._references(pair, model, candles),
        )
        ood = check_ood(self.references, model, candles, latest.feature_row)
        now = datetime.now(UTC)
        record = PredictionRecord.create(
            pair=pair,
            predicted_at=now,
            candle_time=latest.candle_time,
            horizon=latest.horizon,
            interval=model.bundle.candle_interval,
            probability=latest.probability,
            direction=latest.direction,
            confidence=latest.confidence,
            signal=latest.signal,
            model_name=model.name,
            model_version=model.version,
            run_id=model.info.run_id or None,
            close_at_prediction=latest.close,
            ood=None if ood is None else bool(ood),
            member=member or "",  # a member's own answer is stored beside the candidate's
            target=latest.target_time,  # trading bars ahead: closures skipped
            role=role,
            position=model.position(latest.signal),
        )
        # One prediction per (version, member, candle), committed with the outcomes the newly
        # closed candles settle: a single durable commit per fresh prediction.
        closes = self._unsettled_closes(pair, candles)
        stored, _ = self.store.add_once(record, closes=closes)
        self._filled_through[pair] = max(
            pd.Timestamp(candles.index[-1]), self._filled_through.get(pair, candles.index[-1])
        )
        described = DirectionPrediction(
            stored.probability, stored.direction, stored.confidence, cast(Signal, stored.signal)
        )
        assert stored.id is not None
        return ServedPrediction(
            pair, latest, described, model, stored.predicted_at, stored.id, ood=ood
        )

    def _references(
        self, pair: str, model: LoadedModel, candles: pd.DataFrame
    ) -> dict[str, pd.DataFrame]:
        """The closed candles of the model's cross assets on the pair's bars (none without).

        Each is put on the model's interval and the pair's trading bars as in training
        (``mlpkg.data.resample.reference_candles``).
        """
        features = model.bundle.run_config.features
        return {
            other: candles
            if other == pair
            else reference_candles(self.feed.candles(other, 0, None), features, origin=other)
            for other in reference_pairs(features)
        }

    def _unsettled_closes(self, pair: str, candles: pd.DataFrame) -> pd.Series:
        """Closes of the candles not used for settling yet (all of them at first)."""
        last = self._filled_through.get(pair)
        if last is None:
            return candles["close"]
        # The candles are sorted: a slice, not a mask over the whole history.
        return candles["close"].iloc[candles.index.searchsorted(last, side="right") :]

    def fill_outcomes(self, pair: str, candles: pd.DataFrame) -> int:
        """Settle pending predictions with the closes not seen before (all of them at first).

        Returns:
            The number of predictions that got an outcome.
        """
        closes = self._unsettled_closes(pair, candles)
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
        interval = model.bundle.candle_interval if model else None  # core: resampled to it
        candles = self.feed.candles(
            pair, max(rows, model.bundle.history_rows if model else 0), interval
        )
        row = build_features(candles.iloc[-rows:], config).iloc[-1]
        return LatestFeatures(
            pair=pair,
            names=[str(n) for n in row.index],
            values=[None if pd.isna(v) else float(v) for v in row.to_numpy()],
            candle_time=pd.Timestamp(candles.index[-1]),
            model_version=model.version if model else None,
        )
