"""``GET /metrics``: the Prometheus metrics of this server (text exposition format).

Outside ``/api`` where Prometheus looks by default. Open like the other ``GET`` endpoints, or
behind the bearer token when ``MLPKG_METRICS_TOKEN_REQUIRED=true`` (and ``MLPKG_API_TOKEN`` is
set). The metrics are listed in ``mlpkg.serving.metrics``.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from mlpkg.serving.deps import MetricsAuthDep, MetricsDep
from mlpkg.serving.metrics import CONTENT_TYPE
from mlpkg.serving.schemas import ErrorBody

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    dependencies=[MetricsAuthDep],
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format."},
        401: {"model": ErrorBody, "description": "Token required and missing or wrong."},
    },
)
async def get_metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics: request latency by route, predictions, cache hits, loaded models."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
