"""Prometheus gauges read from the service state at scrape time: live accuracy, drift, job queue.

Registered on the app's registry (``mlpkg.serving.metrics.ServingMetrics``) when the state
opens, beside the request and model metrics; ``deploy/grafana/mlpkg.json`` charts them:

| metric | labels | value |
|---|---|---|
| ``mlpkg_live_accuracy`` | ``pair``, ``model_version`` | live accuracy of the served version (unique candles) |
| ``mlpkg_live_accuracy_ci95_low``, ``..._high`` | same | its Wilson 95 % interval |
| ``mlpkg_live_up_rate`` | same | share of settled candles that went up (always-up's accuracy) |
| ``mlpkg_walk_forward_accuracy`` | same | the version's development-fold accuracy |
| ``mlpkg_live_settled``, ``mlpkg_live_pending`` | same | predictions settled / waiting |
| ``mlpkg_drift_psi`` | ``pair``, ``feature`` | PSI of each feature over the drift window |
| ``mlpkg_drift_psi_max``, ``mlpkg_drift_flagged_features`` | ``pair`` | largest PSI, features flagged |
| ``mlpkg_drift_alert``, ``mlpkg_accuracy_alert`` | ``pair`` | 1 when raised |
| ``mlpkg_training_jobs`` | ``status`` (``queued``, ``running``) | jobs in the queue |
| ``mlpkg_training_worker_alive`` | | 1 when the training worker runs |

Accuracy and the queue come from the SQLite stores (the same answer from any worker process);
drift is the live loop's latest check, so only the process running the loop has it.
"""  # noqa: E501  (the table's rows)

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlpkg.serving.bodies import accuracy_body
from mlpkg.storage.jobs import JobStatus

if TYPE_CHECKING:
    from mlpkg.serving.state import ServingState

log = logging.getLogger(__name__)

ACCURACY_GAUGES: dict[str, str] = {
    "mlpkg_live_accuracy": "Live accuracy of the served version over unique settled candles.",
    "mlpkg_live_accuracy_ci95_low": "Lower end of the live accuracy's Wilson 95 % interval.",
    "mlpkg_live_accuracy_ci95_high": "Upper end of the live accuracy's Wilson 95 % interval.",
    "mlpkg_live_up_rate": "Share of settled candles that went up (what always-up scored).",
    "mlpkg_walk_forward_accuracy": "The served version's walk-forward (development) accuracy.",
    "mlpkg_live_settled": "Settled predictions of the served version.",
    "mlpkg_live_pending": "Predictions of the served version waiting for their outcome.",
}
DRIFT_GAUGES: dict[str, str] = {
    "mlpkg_drift_psi_max": "Largest PSI of a feature over the drift window.",
    "mlpkg_drift_flagged_features": "Features above the PSI threshold and their noise floor.",
    "mlpkg_drift_alert": "1 when the latest drift check raised an alert.",
    "mlpkg_accuracy_alert": "1 when recent live accuracy fell below its walk-forward floor.",
}


def _accuracy_values(body: Any) -> dict[str, float | None]:
    low, high = body.ci95 if body.ci95 else (None, None)
    return {
        "mlpkg_live_accuracy": body.accuracy,
        "mlpkg_live_accuracy_ci95_low": low,
        "mlpkg_live_accuracy_ci95_high": high,
        "mlpkg_live_up_rate": body.up_rate,
        "mlpkg_walk_forward_accuracy": body.walk_forward_accuracy,
        "mlpkg_live_settled": float(body.n_realised),
        "mlpkg_live_pending": float(body.n_pending),
    }


class StateCollector(Collector):
    """Reads accuracy, drift and the training queue from a ``ServingState`` at scrape time.

    Args:
        state: The opened service state.
    """

    def __init__(self, state: ServingState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges; a failing read is logged and leaves its gauges without samples."""
        for collect in (self._accuracy, self._drift, self._queue):
            try:
                yield from collect()
            except Exception:  # a scrape must never fail because one store is unavailable
                log.exception("metrics: %s failed", collect.__name__)

    def _accuracy(self) -> Iterator[Metric]:
        families = {
            name: GaugeMetricFamily(name, text, labels=["pair", "model_version"])
            for name, text in ACCURACY_GAUGES.items()
        }
        for pair in self.state.models.pairs:
            model = self.state.models.peek(pair)
            if model is None:
                continue
            body = accuracy_body(self.state.store, pair, model)
            for name, value in _accuracy_values(body).items():
                if value is not None:
                    families[name].add_metric([pair, model.version], float(value))
        yield from families.values()

    def _drift(self) -> Iterator[Metric]:
        psi = GaugeMetricFamily(
            "mlpkg_drift_psi", "PSI of a feature over the drift window.", labels=["pair", "feature"]
        )
        families = {
            name: GaugeMetricFamily(name, text, labels=["pair"])
            for name, text in DRIFT_GAUGES.items()
        }
        for pair in self.state.settings.pairs:
            drift = self.state.live.drift(pair)
            if drift is None:
                continue
            for feature, feature_psi in drift.psi.items():
                if math.isfinite(feature_psi):
                    psi.add_metric([pair, feature], float(feature_psi))
            values: dict[str, float | None] = {
                "mlpkg_drift_psi_max": drift.psi_max,
                "mlpkg_drift_flagged_features": len(drift.flagged),
                "mlpkg_drift_alert": float(bool(drift.alert)),
                "mlpkg_accuracy_alert": float(bool(drift.accuracy and drift.accuracy.alert)),
            }
            for name, value in values.items():
                if value is not None and math.isfinite(value):
                    families[name].add_metric([pair], float(value))
        yield psi
        yield from families.values()

    def _queue(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "mlpkg_training_jobs", "Training jobs queued or running.", labels=["status"]
        )
        active = self.state.jobs.active()
        for status in (JobStatus.QUEUED, JobStatus.RUNNING):
            jobs.add_metric([status.value], float(sum(j.status == status for j in active)))
        alive = GaugeMetricFamily(
            "mlpkg_training_worker_alive", "1 when the training worker is running."
        )
        alive.add_metric([], float(self.state.training.alive))
        yield from (jobs, alive)
