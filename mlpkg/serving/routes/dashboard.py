"""``GET /dashboard``: the live dashboard page, its static files, and ``/api/dashboard/{pair}``.

The page (``mlpkg/serving/static/``: HTML, CSS, one script and the vendored chart library, no
build step) only reads: the ``GET`` endpoints and ``/ws/predictions``. So it needs no token and
works the same whichever worker answers. ``/api/dashboard/{pair}`` gives it what no other
endpoint did: the latest closed candles and the live accuracy as it grew
(``mlpkg.serving.dashboard``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from mlpkg.serving.dashboard import DashboardPairResponse, pair_view
from mlpkg.serving.deps import PairDep, StateDep
from mlpkg.serving.errors import SOURCE_ERRORS
from mlpkg.serving.schemas import ErrorBody

router = APIRouter(tags=["dashboard"])

ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "lightweight-charts.standalone.production.js": "text/javascript; charset=utf-8",
}
"""The files the page loads (nothing else under ``static/`` is served)."""
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'"
)
"""Only this server's own files and API; the chart library sets inline styles."""


@cache
def read_asset(name: str) -> bytes:
    """One shipped file of the page (read once per process from the package data)."""
    folder = resources.files("mlpkg.serving") / "static"
    path = folder / "vendor" / name if name.startswith("lightweight-charts") else folder / name
    return path.read_bytes()


def _asset_response(name: str) -> Response:
    return Response(
        read_asset(name),
        media_type=ASSETS[name],
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/dashboard", response_class=Response)
async def get_dashboard() -> Response:
    """The dashboard page (HTML): candles, predictions, outcomes, accuracy, drift, queue."""
    return _asset_response("index.html")


@router.get(
    "/dashboard/{name}",
    response_class=Response,
    responses={404: {"model": ErrorBody, "description": "Not one of the page's files."}},
)
async def get_dashboard_asset(name: str) -> Response:
    """One of the page's static files (script, style sheet, chart library)."""
    if name not in ASSETS or name == "index.html":
        raise HTTPException(404, detail=f"No dashboard file {name!r}: open /dashboard.")
    return _asset_response(name)


@router.get("/api/dashboard/{pair}", responses=SOURCE_ERRORS)
def get_dashboard_pair(
    pair: PairDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=10, le=2000, description="Latest closed candles.")] = 200,
) -> DashboardPairResponse:
    """The pair's latest closed candles, served predictions of them, accuracy over time."""
    return pair_view(state, pair, limit)
