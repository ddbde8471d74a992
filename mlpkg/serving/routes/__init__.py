"""The API's endpoints, one module per resource: ``/api/<resource>`` lives in ``<resource>.py``.

Routes outside ``/api`` follow the same rule with their first path segment: ``GET /metrics``
(Prometheus) in ``metrics.py``, ``/ws/...`` (WebSockets) in ``ws.py``, ``GET /dashboard``
(the page) in ``dashboard.py``.

Routes are a few lines each: they validate the request (``mlpkg.serving.deps``), call the
state, the predictor, the model cache or the worker, and build the body
(``mlpkg.serving.schemas``). Blocking routes are ``def`` (FastAPI runs them in its threadpool).
"""

from fastapi import APIRouter

from mlpkg.serving.routes import (
    dashboard,
    features,
    health,
    metrics,
    models,
    predictions,
    storage,
    train,
    ws,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    predictions.router,
    features.router,
    models.router,
    train.router,
    storage.router,
    ws.router,
    metrics.router,
    dashboard.router,
)
"""Every resource's router, in the order the OpenAPI docs list them."""

__all__ = ["ROUTERS"]
