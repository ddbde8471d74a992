"""``/ws/predictions``: each new prediction pushed as the live loop makes it (WebSocket).

Connect to ``ws://<host>:3001/ws/predictions`` for every pair, or with ``?pair=BTC&pair=ETH``
for some. While connected, send ``{"subscribe": ["ETH"]}`` or ``{"unsubscribe": ["BTC"]}`` to
change the filter (``{"subscribe": "all"}``: every pair again); the answer is a ``subscribed``
message with the pairs now followed. Messages are JSON objects with a ``type``:

- ``hello``: on connect (the pairs followed, the queue size, the answering worker's ``pid``);
- ``prediction``: a new prediction (``mlpkg.serving.schemas.LiveMessage``) with the outcomes it
  settled, the version's live accuracy and its latest drift check;
- ``dropped``: ``count`` messages were dropped because this client read too slowly;
- ``subscribed`` / ``error`` (a bad pair or message; the connection stays open).

A pair in the URL that is not configured closes the connection with code 1008 after an
``error`` message. No token is needed (it is read-only, like the ``GET`` endpoints).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from mlpkg.config import Settings
from mlpkg.errors import MlpkgError
from mlpkg.serving.errors import classify
from mlpkg.serving.hub import PredictionHub, Subscriber
from mlpkg.serving.schemas import now_ms

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])


def pairs_from(settings: Settings, names: list[str] | str | None) -> set[str] | None:
    """Validate requested pairs (``None``, ``[]`` or ``"all"``: every pair).

    Raises:
        ConfigError, UnknownPairError: for a malformed or unconfigured pair.
    """
    if names is None or names == "all" or names == []:
        return None
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list):
        raise MlpkgError('Give pairs as a list, e.g. {"subscribe": ["BTC"]}, or "all".')
    return {settings.check_pair(str(name)) for name in names}


def _message(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields, "timestamp": now_ms()})


def _queue(hub: PredictionHub, subscriber: Subscriber, text: str) -> None:
    """Queue a reply for this subscriber only (the sender task writes it)."""
    if subscriber.queue.full():
        subscriber.queue.get_nowait()
        subscriber.dropped += 1
    subscriber.queue.put_nowait(text)


def _followed(settings: Settings, subscriber: Subscriber) -> list[str]:
    return sorted(subscriber.pairs) if subscriber.pairs is not None else list(settings.pairs)


@router.websocket("/ws/predictions")
async def ws_predictions(
    websocket: WebSocket, pair: Annotated[list[str] | None, Query()] = None
) -> None:
    """Push every new prediction (optionally of some pairs only) as it is made."""
    settings: Settings = websocket.app.state.settings
    hub: PredictionHub = websocket.app.state.serving.live.hub
    await websocket.accept()
    try:
        wanted = pairs_from(settings, pair)
    except MlpkgError as exc:
        _, code, text = classify(exc)
        await websocket.send_text(_message("error", error=code, message=text))
        await websocket.close(code=1008, reason=code)
        return
    subscriber = hub.subscribe(wanted)
    try:
        await websocket.send_text(
            _message(
                "hello",
                pairs=_followed(settings, subscriber),
                queue=hub.maxsize,
                pid=os.getpid(),
            )
        )
        await _serve(websocket, hub, subscriber, settings)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscriber)


async def _serve(
    websocket: WebSocket, hub: PredictionHub, subscriber: Subscriber, settings: Settings
) -> None:
    sender = asyncio.create_task(_send(websocket, subscriber))
    receiver = asyncio.create_task(_receive(websocket, hub, subscriber, settings))
    done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await task
    for task in done:
        error = task.exception()
        if error is not None and not isinstance(error, WebSocketDisconnect):
            log.info("WebSocket subscriber closed: %s", error)


async def _send(websocket: WebSocket, subscriber: Subscriber) -> None:
    while True:
        text = await subscriber.queue.get()
        if subscriber.dropped > subscriber.reported:
            lost = subscriber.dropped - subscriber.reported
            subscriber.reported = subscriber.dropped
            await websocket.send_text(_message("dropped", count=lost, total=subscriber.dropped))
        await websocket.send_text(text)


async def _receive(
    websocket: WebSocket, hub: PredictionHub, subscriber: Subscriber, settings: Settings
) -> None:
    while True:
        raw = await websocket.receive_text()
        try:
            _apply(json.loads(raw), subscriber, settings)
        except (ValueError, MlpkgError) as exc:
            _, code, text = classify(exc) if isinstance(exc, MlpkgError) else (0, "", "")
            reply = _message(
                "error",
                error=code or "invalid_message",
                message=text or 'Send JSON such as {"subscribe": ["BTC"]}.',
            )
        else:
            reply = _message("subscribed", pairs=_followed(settings, subscriber))
        _queue(hub, subscriber, reply)


def _apply(command: Any, subscriber: Subscriber, settings: Settings) -> None:
    if not isinstance(command, dict) or not ({"subscribe", "unsubscribe"} & set(command)):
        raise ValueError("unknown message")
    if "subscribe" in command:
        added = pairs_from(settings, command["subscribe"])
        subscriber.pairs = None if added is None else (subscriber.pairs or set()) | added
    if "unsubscribe" in command:
        removed = pairs_from(settings, command["unsubscribe"]) or set(settings.pairs)
        current = subscriber.pairs if subscriber.pairs is not None else set(settings.pairs)
        subscriber.pairs = current - removed
