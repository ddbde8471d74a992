"""Prometheus metrics of the service (``GET /metrics``), one ``CollectorRegistry`` per app.

Every metric lives here; ``create_app`` makes one ``ServingMetrics`` (so several apps in one
process, as in the tests, never share or collide), the request middleware observes latencies,
the prediction routes count answers, and the models are read at scrape time:

| metric | type | labels |
|---|---|---|
| ``mlpkg_http_request_duration_seconds`` | histogram | ``method``, ``route`` (the route template, e.g. ``/api/predictions/{pair}``; ``unmatched`` for unknown paths), ``status`` |
| ``mlpkg_predictions_total`` | counter | ``pair``, ``model_version``, ``model`` (the candidate, e.g. ``stacked``, or the member asked for), ``signal``, ``cached`` |
| ``mlpkg_prediction_cache_hits_total`` | counter | ``pair`` |
| ``mlpkg_model_load_failures_total`` | counter | ``pair`` (versions that failed to load since start) |
| ``mlpkg_model_info`` | gauge (1) | ``pair``, ``version``, ``alias``, ``candidate``, ``runtime`` (one per loaded pair) |
| ``mlpkg_model_loaded`` | gauge | ``pair`` (1 when a version is loaded, else 0) |
| ``mlpkg_live_pnl_return`` | gauge | ``pair``, ``version`` (realised gross return of the served signals, ``mlpkg.serving.pnl``) |
| ``mlpkg_live_pnl_settled`` | gauge | ``pair``, ``version`` (settled predictions with a recorded position) |

Several workers (``mlpkg serve --workers N``): ``prepare_multiprocess`` points
``PROMETHEUS_MULTIPROC_DIR`` at an empty folder before the workers start, the histogram and the
counters then write their values to files there (prometheus_client's multiprocess mode), and
whichever worker answers ``/metrics`` sums every worker's (``MultiProcessCollector``). The model
gauges are read from the answering worker (every worker serves the same versions, give or take
one alias poll).
"""  # noqa: E501  (the table's rows)

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlpkg.serving.pnl import PnlCollector

if TYPE_CHECKING:
    from mlpkg.serving.model_cache import ModelCache
    from mlpkg.storage import PredictionStore

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Prometheus text exposition format (``text/plain; version=1.0.0``)."""
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Seconds: a cached answer takes ~0.5 ms, a fresh one ~2-3 ms, status pages tens of ms."""
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's switch to multiprocess mode (read when it is imported)."""
UNMATCHED = "unmatched"
"""The ``route`` label of requests that matched no route (so raw paths never become labels)."""


class ModelsCollector(Collector):
    """Reads the loaded models at scrape time: info, loaded flag, load failures.

    ``models`` is the service's model cache, ``None`` until the lifespan opened the state.
    """

    def __init__(self) -> None:
        self.models: ModelCache | None = None

    def collect(self) -> Iterator[Metric]:
        """Yield the model metrics (nothing before the state is attached)."""
        info = GaugeMetricFamily(
            "mlpkg_model_info",
            "The version served per pair (value 1): alias, candidate and runtime.",
            labels=["pair", "version", "alias", "candidate", "runtime"],
        )
        loaded = GaugeMetricFamily(
            "mlpkg_model_loaded", "1 when the pair has a loaded version, else 0.", labels=["pair"]
        )
        failures = CounterMetricFamily(
            "mlpkg_model_load_failures",
            "Versions that failed to load since start (the served one is kept).",
            labels=["pair"],
        )
        models = self.models
        if models is not None:
            for pair in models.pairs:
                model = models.peek(pair)
                loaded.add_metric([pair], 0.0 if model is None else 1.0)
                failures.add_metric([pair], float(models.load_failures.get(pair, 0)))
                if model is not None:
                    labels = [
                        pair,
                        model.version,
                        model.alias,
                        model.bundle.candidate,
                        model.runtime,
                    ]
                    info.add_metric(labels, 1.0)
        yield from (info, loaded, failures)


class ServingMetrics:
    """The app's metrics and their registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "mlpkg_http_request_duration_seconds",
            "Server time per HTTP request, by route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "mlpkg_predictions",
            "Prediction answers by pair, version, model (candidate or member), signal, cached.",
            ["pair", "model_version", "model", "signal", "cached"],
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "mlpkg_prediction_cache_hits",
            "Prediction answers served from the prediction cache.",
            ["pair"],
            registry=self.registry,
        )
        self.models = ModelsCollector()
        self.collectors: list[Collector] = [self.models]
        self.registry.register(self.models)
        self.pnl = PnlCollector()
        self.add_collector(self.pnl)

    def add_collector(self, collector: Collector) -> None:
        """Register a collector read at scrape time (kept for multiprocess scrapes too)."""
        self.collectors.append(collector)
        self.registry.register(collector)

    def attach(self, models: ModelCache, store: PredictionStore | None = None) -> None:
        """Read these models (and the store's P&L) at scrape time (when the state opens)."""
        self.models.models = models
        self.pnl.models, self.pnl.store = models, store

    def count_prediction(
        self, pair: str, version: str, model: str, signal: str, *, cached: bool
    ) -> None:
        """Count one prediction answer (and a cache hit when it came from the cache)."""
        flag = "true" if cached else "false"
        self.predictions.labels(pair, version, model, signal, flag).inc()
        if cached:
            self.cache_hits.labels(pair).inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text format (every worker's, in multiprocess mode)."""
        if not os.environ.get(MULTIPROC_ENV):
            return bytes(generate_latest(self.registry))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        for collector in self.collectors:  # read from the answering worker
            registry.register(collector)
        return bytes(generate_latest(registry))


def prepare_multiprocess() -> Path:
    """Give the workers to come an empty metrics folder (``PROMETHEUS_MULTIPROC_DIR``).

    A folder the user set is emptied of old values; otherwise a temporary one is made.
    Call before the worker processes start, and ``shutil.rmtree`` a temporary one after.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.db"):
            old.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="mlpkg-metrics-"))
        os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def remove_multiprocess(folder: Path) -> None:
    """Remove the metrics folder ``prepare_multiprocess`` made (a user's one is kept)."""
    if folder.name.startswith("mlpkg-metrics-"):
        shutil.rmtree(folder, ignore_errors=True)


class RequestMetricsMiddleware:
    """Observe each HTTP request's server time under its route template (pure ASGI).

    Args:
        app: The wrapped ASGI app.
        metrics: Where to observe.
    """

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request; observe its duration with the matched route's path template."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.request_seconds.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )
