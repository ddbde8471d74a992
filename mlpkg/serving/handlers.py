"""Errors as HTTP answers: every error body has ``error`` (a code) and ``message``.

``MlpkgError`` subclasses map to real status codes (no 200 "HOLD" fallback as in the seed);
FastAPI's own 404/405/422 and unexpected exceptions get the same body shape; tracebacks go to
the log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlpkg.config import Settings
from mlpkg.errors import (
    CandleValidationError,
    ConfigError,
    DataSourceError,
    MlpkgError,
    ModelLoadError,
    ModelNotFoundError,
    UnknownPairError,
    UpstreamUnavailableError,
)
from mlpkg.serving.middleware import INTERNAL_MESSAGE
from mlpkg.storage import JobNotFoundError, StorageError

log = logging.getLogger(__name__)

# Most specific first: the first isinstance match wins.
ERROR_TABLE: tuple[tuple[type[MlpkgError], int, str], ...] = (
    (UnknownPairError, 404, "unknown_pair"),
    (JobNotFoundError, 404, "job_not_found"),
    (ConfigError, 422, "invalid_parameters"),
    (ModelNotFoundError, 503, "model_not_found"),
    (ModelLoadError, 503, "model_load_failed"),
    (UpstreamUnavailableError, 503, "upstream_unavailable"),
    (CandleValidationError, 502, "bad_candles"),
    (DataSourceError, 503, "data_source_unavailable"),
    (StorageError, 503, "storage_unavailable"),
    (MlpkgError, 500, "mlpkg_error"),
)
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameters",
}


def classify(exc: Exception) -> tuple[int, str, str]:
    """Return ``(status, error code, message)`` for an exception (unexpected ones hide details)."""
    if isinstance(exc, MlpkgError):
        for kind, status, code in ERROR_TABLE:
            if isinstance(exc, kind):
                return status, code, str(exc)
    return 500, "internal_error", INTERNAL_MESSAGE


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """Build an error body, dropping empty extras."""
    return {"error": code, "message": message, **{k: v for k, v in extra.items() if v}}


def _extras(exc: Exception, settings: Settings) -> dict[str, Any]:
    if isinstance(exc, UnknownPairError):
        return {"pairs": list(settings.pairs)}
    if isinstance(exc, UpstreamUnavailableError):
        return {"upstream": f"core at {settings.core_url}"}
    return {}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def mlpkg_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer an ``MlpkgError`` with its mapped status code."""
    status, code, message = classify(exc)
    log.info("%s %s -> %d %s: %s", request.method, request.url.path, status, code, message)
    return JSONResponse(error_body(code, message, **_extras(exc, _settings(request))), status)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer Starlette/FastAPI HTTP errors (404 route, 405, 401, 413) with the error shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"No endpoint {request.url.path}; see /docs for the API."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs."
    return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()))
    return f"{location}: {error.get('msg', 'invalid')}"


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer request validation errors with 422, a readable message and the field details."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    message = "Invalid request: " + "; ".join(_describe(e) for e in errors) + "."
    return JSONResponse(error_body("invalid_parameters", message, details=errors), 422)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Last resort behind ``UnexpectedErrorMiddleware``: 500 without a traceback."""
    log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(error_body("internal_error", INTERNAL_MESSAGE), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on the app."""
    app.add_exception_handler(MlpkgError, mlpkg_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
