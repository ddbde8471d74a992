"""Errors as HTTP answers: every error body has ``error`` (a code) and ``message``.

One place for everything about errors: the table that maps ``MlpkgError`` subclasses to real
status codes (no 200 "HOLD" fallback as in the seed), the exception handlers (FastAPI's own
404/405/422 get the same body shape), the ASGI middleware answering 413 for large bodies and
500 for unexpected errors (tracebacks go to the log only), and the error responses the routes
document in the OpenAPI schema.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlpkg.config import Settings
from mlpkg.errors import (
    CandleIntervalError,
    CandleValidationError,
    ChallengerNotFoundError,
    ConfigError,
    DataSourceError,
    JobNotFoundError,
    JobStateError,
    MissingCandlesError,
    MlpkgError,
    ModelLoadError,
    ModelNotFoundError,
    OutOfSampleNotFoundError,
    StorageError,
    UnknownMemberError,
    UnknownModelError,
    UnknownPairError,
    UpstreamUnavailableError,
)
from mlpkg.serving.schemas import ErrorBody

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted (every body of this API is a few hundred bytes)."""

INTERNAL_MESSAGE = "Unexpected server error; the details are in the server log."

# Most specific first: the first isinstance match wins.
ERROR_TABLE: tuple[tuple[type[MlpkgError], int, str], ...] = (
    (UnknownPairError, 404, "unknown_pair"),
    (UnknownMemberError, 404, "unknown_member"),
    (JobNotFoundError, 404, "job_not_found"),
    (OutOfSampleNotFoundError, 404, "out_of_sample_not_found"),
    (ChallengerNotFoundError, 404, "challenger_not_found"),
    (JobStateError, 409, "job_finished"),
    (ConfigError, 422, "invalid_parameters"),
    (UnknownModelError, 404, "unknown_model"),
    (ModelNotFoundError, 503, "model_not_found"),
    (ModelLoadError, 503, "model_load_failed"),
    (UpstreamUnavailableError, 503, "upstream_unavailable"),
    (CandleValidationError, 502, "bad_candles"),
    (MissingCandlesError, 503, "missing_candles"),
    (CandleIntervalError, 503, "interval_mismatch"),
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

# The error answers each route documents in the OpenAPI schema (``responses=``).
ErrorResponses = dict[int | str, dict[str, Any]]
PAIR_ERRORS: ErrorResponses = {
    404: {"model": ErrorBody, "description": "Unknown pair (the body lists the pairs)."},
    422: {"model": ErrorBody, "description": "Malformed pair or query parameter."},
}
CHALLENGER_ERRORS: ErrorResponses = {
    **PAIR_ERRORS,
    404: {
        "model": ErrorBody,
        "description": "Unknown pair (the body lists the pairs), or the pair has no live "
        "challenger (challenger_not_found).",
    },
}
SOURCE_ERRORS: ErrorResponses = {
    **PAIR_ERRORS,
    502: {"model": ErrorBody, "description": "The candle source returned invalid candles."},
    503: {
        "model": ErrorBody,
        "description": "No model, the candle source is unavailable, the model's window spans "
        "missing candles (missing_candles), or the candles are of another interval than the "
        "model's (interval_mismatch).",
    },
}
MEMBER_ERRORS: ErrorResponses = {
    **SOURCE_ERRORS,
    404: {
        "model": ErrorBody,
        "description": "Unknown pair (the body lists the pairs), or a ?model= member the "
        "served version does not hold (unknown_member; the body lists its members).",
    },
    422: {"model": ErrorBody, "description": "Malformed pair, or ?model= not a model family."},
}
AUTH_ERRORS: ErrorResponses = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
    413: {"model": ErrorBody, "description": "Request body larger than 64 KiB."},
    422: {"model": ErrorBody, "description": "Invalid parameters."},
}
PAIR_AUTH_ERRORS: ErrorResponses = {
    **AUTH_ERRORS,
    404: {"model": ErrorBody, "description": "Unknown pair."},
}
BODY_ERRORS: ErrorResponses = {
    400: {"model": ErrorBody, "description": "Body that cannot be decoded (e.g. not UTF-8)."},
}
JOB_ERRORS: ErrorResponses = {
    404: {"model": ErrorBody, "description": "Unknown job id."},
}
CANCEL_ERRORS: ErrorResponses = {
    **AUTH_ERRORS,
    **JOB_ERRORS,
    409: {"model": ErrorBody, "description": "The job has already finished."},
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
    if isinstance(exc, UnknownMemberError):
        return {"members": exc.members}
    return {}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def mlpkg_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer an ``MlpkgError`` with its mapped status code."""
    status, code, message = classify(exc)
    log.info("%s %s -> %d %s: %s", request.method, request.url.path, status, code, message)
    return JSONResponse(error_body(code, message, **_extras(exc, _settings(request))), status)


def allowed_methods(request: Request) -> str:
    """The methods of the path the request matched (for a 405 ``Allow``).

    Starlette lists the methods of the first matching route only; a path template served by
    several routes (``GET`` and ``DELETE /api/train/jobs/{job_id}``) needs them all. Routes of
    another template that also match (``POST /api/train/{pair}`` for ``/api/train/jobs``) are
    not that path's.
    """
    routes = [c for c in iter_route_contexts(request.app.routes) if c.methods]
    matched = next(
        (
            c.path
            for c in routes
            if (p := getattr(c, "path_regex", None)) and p.match(request.url.path)
        ),
        None,
    )
    methods = {m for c in routes if c.path == matched for m in (c.methods or ())}
    return ", ".join(sorted(methods))


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer Starlette/FastAPI HTTP errors (404 route, 405, 401, 413) with the error shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = str(exc.detail)
    headers = exc.headers
    if exc.status_code == 404 and message == "Not Found":
        message = f"No endpoint {request.url.path}; see /docs for the API."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs."
        headers = {**(exc.headers or {}), "Allow": allowed_methods(request) or "GET"}
    return JSONResponse(error_body(code, message), exc.status_code, headers=headers)


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


def _too_large(limit: int) -> str:
    return f"The request body is larger than {limit} bytes; send a smaller JSON body."


class BodySizeLimitMiddleware:
    """Answer 413 when Content-Length says too much, or stop reading a chunked body in time.

    Args:
        app: The wrapped ASGI app.
        max_bytes: Largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the bytes actually received."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            body = error_body("body_too_large", _too_large(self.max_bytes))
            await JSONResponse(body, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # FastAPI re-raises HTTPException from body reading; the handler answers it.
                raise StarletteHTTPException(413, _too_large(self.max_bytes))
            return message

        await self.app(scope, counting_receive, send)


class UnexpectedErrorMiddleware:
    """Answer an exception no handler took with 500 ``internal_error`` and log its traceback.

    Unlike an ``Exception`` handler (Starlette re-raises after answering, so the server drops
    the keep-alive connection), the error stops here and the connection stays usable.

    Args:
        app: The wrapped ASGI app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; on an exception before the answer started, answer 500."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise
            body = error_body("internal_error", INTERNAL_MESSAGE)
            await JSONResponse(body, status_code=500)(scope, receive, send)


def install_error_handling(app: FastAPI) -> None:
    """Add the 500 and 413 middleware and every exception handler to the app.

    Call it before adding CORS, so that CORS stays the outermost middleware and its headers
    reach every answer, errors included.
    """
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_exception_handler(MlpkgError, mlpkg_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
