"""Response builders: status, accuracy and drift bodies from the serving state's objects.

The routes, the metrics collector and the live loop build these bodies the same way; the
schemas (``mlpkg.serving.schemas``) say what they contain, this module fills them.
"""

from __future__ import annotations

from mlpkg.evaluation.drift import wilson_interval
from mlpkg.serving.drift import PairDrift
from mlpkg.serving.model_cache import LoadedModel
from mlpkg.serving.schemas import DriftOut, LiveAccuracy
from mlpkg.storage import PredictionStore
from mlpkg.tracking.history import walk_forward_accuracy


def accuracy_body(
    store: PredictionStore, pair: str, model: LoadedModel | None, version: str | None = None
) -> LiveAccuracy:
    """Live accuracy of one version over unique candles, with its Wilson 95 % interval.

    Args:
        store: The prediction store (counters, no scan).
        pair: The pair.
        model: The loaded model (its version and walk-forward accuracy), if any.
        version: Another version than the loaded one.
    """
    chosen = version or (model.version if model else None)
    counts = store.live_accuracy(pair, model_version=chosen)
    interval = wilson_interval(counts["n_correct"], counts["n_realised"])
    walk_forward = None
    if model is not None and chosen == model.version:
        walk_forward = walk_forward_accuracy(model.info)
    return LiveAccuracy.model_validate(
        {
            **counts,
            "model_version": chosen,
            "ci95": list(interval) if interval else None,
            "walk_forward_accuracy": walk_forward,
        }
    )


def drift_body(drift: PairDrift | None) -> DriftOut | None:
    """The drift part of status and WebSocket bodies."""
    if drift is None:
        return None
    check = drift.accuracy
    return DriftOut(
        model_version=drift.version,
        candle_time=drift.candle_time.to_pydatetime(),
        alert=drift.alert,
        has_reference=drift.has_reference,
        window=drift.window,
        threshold=drift.threshold,
        psi_max=drift.psi_max,
        flagged=drift.flagged,
        psi={k: round(v, 6) for k, v in drift.psi.items()},
        noise_floor={k: round(v, 6) for k, v in drift.floors.items()},
        accuracy_window=check.k if check else None,
        accuracy_settled=check.settled if check else 0,
        accuracy_recent=check.accuracy if check else None,
        walk_forward_accuracy=check.walk_forward if check else None,
        accuracy_floor=check.floor if check else None,
        accuracy_alert=bool(check and check.alert),
        computed_at=drift.computed_at,
    )
