"""ASGI middleware: a 413 for large bodies, and a 500 for unexpected errors (JSON, no traceback)."""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted (every body of this API is a few hundred bytes)."""


INTERNAL_MESSAGE = "Unexpected server error; the details are in the server log."


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
            body = {"error": "body_too_large", "message": _too_large(self.max_bytes)}
            await JSONResponse(body, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # FastAPI re-raises HTTPException from body reading; the handler answers it.
                raise HTTPException(413, _too_large(self.max_bytes))
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
            body = {"error": "internal_error", "message": INTERNAL_MESSAGE}
            await JSONResponse(body, status_code=500)(scope, receive, send)
