"""FastAPI dependencies: the settings, the serving state, a validated pair, the token check.

They are ``async`` because they do no blocking work: a ``def`` dependency would cost a
threadpool round-trip per request.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request

from mlpkg.config import Settings
from mlpkg.serving.metrics import ServingMetrics
from mlpkg.serving.state import ServingState

log = logging.getLogger(__name__)


async def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was created with (``create_app(settings)``)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_state(request: Request) -> ServingState:
    """Return the running service's state (set by the lifespan)."""
    state: ServingState = request.app.state.serving
    return state


StateDep = Annotated[ServingState, Depends(get_state)]


async def get_metrics(request: Request) -> ServingMetrics:
    """Return the app's Prometheus metrics (``mlpkg.serving.metrics``)."""
    metrics: ServingMetrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]


PAIR_PATH_PATTERN = r"^[A-Za-z0-9]{2,15}([-_]?[Uu][Ss][Dd][Tt]?)?$"
"""The URL spellings ``mlpkg.config.normalize_pair`` accepts (``BTC``, ``btc``, ``BTC_USDT``,
``ethusd``), as documented in the OpenAPI schema. Documented only: ``valid_pair`` checks the
name itself so a bad one gets the friendlier ``Invalid pair ...`` message."""

PairPath = Annotated[
    str,
    Path(
        description="Base symbol such as BTC (case-insensitive; a USD/USDT suffix is dropped).",
        json_schema_extra={"pattern": PAIR_PATH_PATTERN},
        examples=["BTC"],
    ),
]


async def valid_pair(pair: PairPath, settings: SettingsDep) -> str:
    """Normalise the ``{pair}`` path parameter and check it is configured (no I/O).

    Raises:
        ConfigError: for a malformed name (answered 422).
        UnknownPairError: for a pair that is not configured (answered 404 with the pairs).
    """
    return settings.check_pair(pair)


PairDep = Annotated[str, Depends(valid_pair)]


async def require_token(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(description="Bearer <MLPKG_API_TOKEN>")] = None,
) -> None:
    """Require ``Authorization: Bearer <token>`` when ``MLPKG_API_TOKEN`` is set.

    Raises:
        HTTPException: 401 when the header is missing or the token is wrong.
    """
    expected = settings.api_token
    if expected is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    valid = scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), expected.get_secret_value().encode()
    )
    if not valid:
        log.warning("rejected a mutating request without a valid bearer token")
        raise HTTPException(
            status_code=401,
            detail="This endpoint needs the header 'Authorization: Bearer <MLPKG_API_TOKEN>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )


AuthDep = Depends(require_token)


async def require_metrics_token(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(description="Bearer <MLPKG_API_TOKEN>")] = None,
) -> None:
    """Require the bearer token on ``/metrics`` when ``MLPKG_METRICS_TOKEN_REQUIRED`` is true.

    Raises:
        HTTPException: 401 when required and the header is missing or the token is wrong.
    """
    if settings.metrics_token_required:
        await require_token(settings, authorization)


MetricsAuthDep = Depends(require_metrics_token)
