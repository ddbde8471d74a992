"""Champion/challenger, live: shadow scoring of a retrained version and its sequential test.

A periodic or drift retrain registers its version under the alias ``challenger``
(``mlpkg.tracking.challengers``). The live loop calls ``ChallengeService.observe`` for every
candle it scores for the served model: when the pair has a challenger and the candle is after
the challenger's training data (its last labelled row plus the horizon, so no shadow outcome
was ever a training label), the challenger scores the same candle window and the prediction is
stored with ``role='challenger'``: never a default answer, shown by ``?alias=challenger``.

After each step ``decide`` pairs the settled shadow predictions with the reference's on the
same candles, turns them into log-loss differentials ``d = loss(challenger) -
loss(reference)`` and runs ``mlpkg.evaluation.sequential.decide_challenge`` over the whole
path (so a restarted server reaches the same decision from the store). The reference is the
served version when it is the champion; when no champion is served, it is the naive base rate:
P(up) = (1 + ups) / (2 + settled) over the shadow outcomes already known when the candle
closed (a predictable forecaster, the best constant one for log loss). A decision is recorded on
the version (``promoted-live`` with the evidence, the ``champion`` alias moved; or rejected),
the served model is reloaded, and a ``challenge`` message is queued for the WebSocket hub.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlpkg.config import Settings
from mlpkg.data.replay import Clock
from mlpkg.errors import MlpkgError
from mlpkg.evaluation.metrics import log_losses
from mlpkg.evaluation.sequential import ChallengeEvidence, SequentialConfig, decide_challenge
from mlpkg.serving.model_cache import LoadedModel, ModelCache, RefreshOutcome
from mlpkg.serving.predictor import Predictor
from mlpkg.serving.schemas import ChallengeMessage, ChallengeOut, now_ms
from mlpkg.storage import PredictionStore
from mlpkg.tracking import registry
from mlpkg.tracking.challengers import CHALLENGER, close_challenge

log = logging.getLogger(__name__)

RECHECK_S = 5.0
"""Seconds between two reads of a pair's ``challenger`` alias (``invalidate`` forces one)."""


@dataclass(frozen=True)
class PairChallenge:
    """One pair's challenge: the challenger, its reference and the evidence so far."""

    pair: str
    version: str
    reference: str
    evidence: ChallengeEvidence
    scored: int
    shadow_from: pd.Timestamp | None
    decided_at: pd.Timestamp | None = None

    def body(self) -> ChallengeOut:
        """The API body (NaN as null)."""
        e = self.evidence

        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return ChallengeOut(
            pair=self.pair,
            version=self.version,
            reference=self.reference,
            state=e.state,
            reason=e.reason,
            n=e.n,
            settled=e.settled,
            scored=self.scored,
            mean_diff=num(e.mean_diff),
            lower=num(e.lower),
            upper=num(e.upper),
            long_run_sd=num(e.long_run_sd),
            e_value=e.e_value if math.isfinite(e.e_value) else 1e300,
            threshold=e.threshold,
            alpha=e.alpha,
            horizon=e.horizon,
            burn_in=e.burn_in,
            max_candles=e.max_candles,
            shadow_from=None if self.shadow_from is None else self.shadow_from.to_pydatetime(),
            decided_at=None if self.decided_at is None else self.decided_at.to_pydatetime(),
        )


def shadow_start(model: LoadedModel) -> pd.Timestamp | None:
    """The first candle a version may be scored on in shadow (after every label it saw)."""
    last = model.bundle.trained_on.get("last_open_time")
    if not last:
        return None
    interval = pd.Timedelta(model.bundle.candle_interval)
    return pd.Timestamp(last) + (model.bundle.run_config.horizon + 1) * interval


def naive_reference(
    candle_times: list[datetime], target_times: list[datetime], up: np.ndarray
) -> np.ndarray:
    """The base-rate P(up) at each candle from the outcomes known when it closed."""
    targets = pd.DatetimeIndex(target_times).as_unit("us").asi8
    order = np.argsort(targets, kind="stable")
    ups = np.concatenate([[0.0], np.cumsum(up[order])])
    candles = pd.DatetimeIndex(candle_times).as_unit("us").asi8
    known = np.searchsorted(targets[order], candles, side="right")
    return np.asarray((1.0 + ups[known]) / (2.0 + known))


class ChallengeService:
    """Shadow scoring and the live decision for every pair (blocking; the live loop's thread).

    Args:
        settings: Machine settings (``MLPKG_CHALLENGE_MAX``, ``MLPKG_CHALLENGE_ALPHA``).
        store: The prediction store.
        models: The served models (reloaded after a promotion).
        predictor: Scores and stores the shadow predictions.
        clock: The service clock (decision times).
    """

    def __init__(
        self,
        settings: Settings,
        store: PredictionStore,
        models: ModelCache,
        predictor: Predictor,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.models = models
        self.predictor = predictor
        self.clock = clock
        self.challengers = ModelCache(settings.pairs, CHALLENGER)
        self.latest: dict[str, PairChallenge] = {}
        self.outbox: deque[tuple[str, str]] = deque(maxlen=1000)
        self._checked: dict[str, float] = {}
        self._scored: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def invalidate(self, pair: str) -> None:
        """Read the pair's ``challenger`` alias again at the next step (after a training job)."""
        self._checked.pop(pair, None)

    def challenger(self, pair: str) -> LoadedModel | None:
        """The pair's pending challenger (re-read at most every ``RECHECK_S`` seconds)."""
        now = time.monotonic()
        if now - self._checked.get(pair, -math.inf) >= RECHECK_S:
            self._checked[pair] = now
            if self.challengers.refresh(pair) == RefreshOutcome.MISSING:
                self.challengers.forget(pair)  # decided (by another process) or never registered
        return self.challengers.peek(pair)

    def observe(self, pair: str, served: LoadedModel, window: pd.DataFrame) -> None:
        """Score the challenger in shadow on the last candle of ``window`` (if it may)."""
        challenger = self.challenger(pair)
        if challenger is None or challenger.version == served.version:
            return
        start = shadow_start(challenger)
        if start is None or pd.Timestamp(window.index[-1]) < start:
            return
        try:
            self.predictor.score_candles(pair, challenger, window, role="challenger")
        except MlpkgError as exc:  # a gap in its window: no shadow prediction for this candle
            log.info("%s: challenger %s not scored: %s", pair, challenger.version, exc)
            return
        key = (pair, challenger.version)
        self._scored[key] = self._scored.get(key, 0) + 1

    def current(self, pair: str) -> PairChallenge | None:
        """The pending challenger's evidence now (read only), else the last decided one."""
        challenger = self.challenger(pair)
        if challenger is None:
            return self.latest.get(pair)
        return self.evaluate(pair, challenger, self.models.peek(pair))

    def decide(self, pair: str, served: LoadedModel | None) -> PairChallenge | None:
        """Recompute the pair's evidence; record a decision when the test reaches one."""
        challenger = self.challengers.peek(pair)
        if challenger is None:
            return self.latest.get(pair)
        result = self.evaluate(pair, challenger, served)
        if result.evidence.state != "watching":
            try:
                result = self._close(pair, challenger, result)
            except Exception:  # the registry failed: keep watching, record it at the next step
                log.exception("%s: recording the challenger's decision failed", pair)
                return result
        self.latest[pair] = result
        return result

    def evaluate(
        self, pair: str, challenger: LoadedModel, served: LoadedModel | None
    ) -> PairChallenge:
        """The evidence of a challenger against the champion (or the naive base rate)."""
        champion = served is not None and served.alias == registry.CHAMPION
        reference_version = served.version if champion and served is not None else None
        rows = self.store.shadow_pairs(pair, challenger.version, reference_version)
        up = np.array([r[4] for r in rows], dtype=np.float64)
        ours = log_losses(up, [r[2] for r in rows])
        if reference_version is not None:
            theirs = log_losses(up, np.array([r[3] for r in rows], dtype=np.float64))
            reference = f"champion v{reference_version}"
        else:
            base = naive_reference([r[0] for r in rows], [r[1] for r in rows], up)
            theirs, reference = log_losses(up, base), "naive base rate"
        config = SequentialConfig(
            horizon=challenger.bundle.run_config.horizon,
            alpha=self.settings.challenge_alpha,
            max_candles=self.settings.challenge_max,
        )
        evidence = decide_challenge(ours - theirs, config)
        counts = self.store.live_accuracy(pair, model_version=challenger.version)
        return PairChallenge(
            pair,
            challenger.version,
            reference,
            evidence,
            scored=int(counts["n_realised"]) + int(counts["n_pending"]),
            shadow_from=shadow_start(challenger),
        )

    def _close(self, pair: str, challenger: LoadedModel, result: PairChallenge) -> PairChallenge:
        evidence = {**result.evidence.as_dict(), "reference": result.reference}
        close_challenge(pair, challenger.version, result.evidence.state, evidence)
        decided = replace(result, decided_at=self.clock.now())
        self.challengers.forget(pair)
        self.invalidate(pair)
        if result.evidence.state == "promoted":
            self.models.refresh(pair)  # the champion alias moved: serve it now
        message = ChallengeMessage(
            pair=pair,
            challenge=decided.body(),
            clock=self.clock.now().to_pydatetime(),
            timestamp=now_ms(),
        )
        self.outbox.append((pair, message.model_dump_json()))
        return decided

    def drain(self) -> list[tuple[str, str]]:
        """The queued ``challenge`` messages (pair, JSON), oldest first; the queue is emptied."""
        with self._lock:
            messages = list(self.outbox)
            self.outbox.clear()
        return messages


class ChallengeCollector(Collector):
    """Prometheus gauges of each pair's challenge (read at scrape time, no I/O).

    ``service`` is ``None`` until the lifespan opened the state.
    """

    def __init__(self) -> None:
        self.service: ChallengeService | None = None

    def collect(self) -> Iterator[Metric]:
        """Yield n settled, mean difference, interval ends, e-value and the state."""
        labels = ["pair", "version"]
        gauges = {
            "settled": GaugeMetricFamily(
                "mlpkg_challenge_settled", "Settled shadow candles.", labels=labels
            ),
            "mean_diff": GaugeMetricFamily(
                "mlpkg_challenge_mean_diff",
                "Mean log loss(challenger) - log loss(reference), nats.",
                labels=labels,
            ),
            "lower": GaugeMetricFamily(
                "mlpkg_challenge_lower", "Lower end of the anytime-valid interval.", labels=labels
            ),
            "upper": GaugeMetricFamily(
                "mlpkg_challenge_upper", "Upper end of the anytime-valid interval.", labels=labels
            ),
            "e_value": GaugeMetricFamily(
                "mlpkg_challenge_e_value", "Mixture e-value (threshold 1/alpha).", labels=labels
            ),
        }
        state = GaugeMetricFamily(
            "mlpkg_challenge_state",
            "1 for the challenge's current state (watching, promoted or rejected).",
            labels=[*labels, "state"],
        )
        latest = self.service.latest if self.service is not None else {}
        for pair, challenge in list(latest.items()):
            e = challenge.evidence
            values = [pair, challenge.version]
            for name, gauge in gauges.items():
                gauge.add_metric(values, float(getattr(e, name)))
            state.add_metric([*values, e.state], 1.0)
        yield from (*gauges.values(), state)
