"""The WebSocket fan-out: each worker follows the live event log and pushes to its subscribers.

Only the leader runs the live loop (``mlpkg.serving.live``); it appends each new prediction's
message to the ``LiveEventStore``. Every API worker, the leader included, runs ``follow_events``:
it reads the log rows after the last one it saw every ``FOLLOW_POLL_S`` and publishes them to
its own ``PredictionHub``, so a subscriber connected to any worker gets every prediction
(a few hundred milliseconds after it was made), and a subscriber of a worker that took over
the lease sees no gap.

``PredictionHub``: each subscriber has a bounded queue (``MLPKG_WS_QUEUE`` messages).
Publishing never waits: when a subscriber's queue is full its **oldest** message is dropped
(and counted; the subscriber gets a ``dropped`` message before the next one), so a slow or
dead subscriber never delays predictions or other subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import anyio.to_thread

from mlpkg.storage.events import LiveEventStore

log = logging.getLogger(__name__)

FOLLOW_POLL_S = 0.2
"""How often a worker reads new rows of the live event log."""


@dataclass
class Subscriber:
    """One WebSocket client: its queue, its pair filter (``None``: all) and drops."""

    queue: asyncio.Queue[str]
    pairs: set[str] | None
    dropped: int = 0
    reported: int = 0


class PredictionHub:
    """Fan-out of new predictions to WebSocket subscribers (event loop only; never waits).

    Args:
        maxsize: Messages buffered per subscriber (``MLPKG_WS_QUEUE``).
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.subscribers: list[Subscriber] = []
        self.published = 0

    def subscribe(self, pairs: set[str] | None) -> Subscriber:
        """Register a subscriber (``pairs``: only those; ``None``: every pair)."""
        subscriber = Subscriber(asyncio.Queue(self.maxsize), pairs)
        self.subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a subscriber (idempotent)."""
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)

    def publish(self, pair: str, message: str) -> None:
        """Queue ``message`` for every subscriber of ``pair``; drop its oldest when full."""
        self.published += 1
        for subscriber in list(self.subscribers):
            if subscriber.pairs is not None and pair not in subscriber.pairs:
                continue
            if subscriber.queue.full():
                subscriber.queue.get_nowait()
                subscriber.dropped += 1
            subscriber.queue.put_nowait(message)


async def follow_events(hub: PredictionHub, events: LiveEventStore, after: int) -> None:
    """Publish every event logged after id ``after`` to ``hub``, in order; until cancelled."""
    last = after
    while True:
        try:
            new = await anyio.to_thread.run_sync(events.since, last)
        except Exception:  # keep following whatever one read did
            log.exception("reading the live event log failed")
            new = []
        for event in new:
            hub.publish(event.pair, event.message)
            last = event.id
        await asyncio.sleep(FOLLOW_POLL_S)
