"""The FastAPI app: ``create_app`` factory, the lifespan that owns the state, the alias poller.

``mlpkg serve`` runs ``uvicorn mlpkg.serving.app:create_app --factory`` on port 3001.
``mlpkg serve --workers N`` runs N such processes. Nothing happens at import time: the lifespan
opens the stores, loads every pair's model from the registry alias, starts the alias poller and
the event follower (``mlpkg.serving.hub.follow_events``: the live predictions pushed to this
worker's ``/ws/predictions`` subscribers) in every worker, and in the one that holds the leader
lease (``mlpkg.serving.lease``) the job runner and the live loop (``mlpkg.serving.live.run_live``:
one scored prediction per closed candle). It closes it all on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from mlpkg.config import Settings, get_settings
from mlpkg.errors import MlpkgError
from mlpkg.serving.challenge import ChallengeCollector
from mlpkg.serving.errors import install_error_handling
from mlpkg.serving.hub import follow_events
from mlpkg.serving.lease import LEASE_POLL_S
from mlpkg.serving.live import run_live
from mlpkg.serving.metrics import RequestMetricsMiddleware, ServingMetrics
from mlpkg.serving.routes import ROUTERS
from mlpkg.serving.routes.health import service_version
from mlpkg.serving.state import ServingState
from mlpkg.serving.state_metrics import StateCollector

log = logging.getLogger(__name__)

DESCRIPTION = """Short-horizon price direction of crypto pairs, one LSTM per pair, served from
the MLflow registry alias (`champion` by default). Errors always carry `error` and `message`.
Mutating endpoints need `Authorization: Bearer <MLPKG_API_TOKEN>` when a token is configured."""


async def poll_models(state: ServingState) -> None:
    """Re-read every pair's alias every ``model_poll_s`` seconds and load moved versions.

    Runs until cancelled; a failing refresh is logged and retried at the next poll.
    """
    interval = state.settings.model_poll_s
    while True:
        await asyncio.sleep(interval)
        for pair in state.models.pairs:
            try:
                await anyio.to_thread.run_sync(state.models.refresh, pair)
            except Exception:  # keep polling whatever one refresh did
                log.exception("model refresh of %s failed", pair)


async def lead(state: ServingState) -> None:
    """Wait for the leader lease, then run the leader's work (job runner, live loop).

    Runs until cancelled, beside the requests (the port is open before the job runner starts);
    the lease is released when the state closes (or the process ends).
    """
    if not state.lease.held:
        while not state.lease.try_acquire():
            await asyncio.sleep(LEASE_POLL_S)
        log.info("this worker is now the leader")
    await anyio.to_thread.run_sync(state.lead)
    if state.settings.live_scoring:
        await run_live(state.live, settings=state.settings)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the state (blocking work in a thread), poll aliases, close everything on stop.

    A start-up failure (e.g. a corrupt prediction store) is logged as one line that says what
    to do, before uvicorn's traceback, and whatever was opened is closed again. A worker that
    finds the lease free takes it before it answers (so a single server is the leader at once);
    the leader's work (orphaned runs, job recovery and runner, live loop) starts beside the
    first requests, in the ``lead`` task.
    """
    settings: Settings = app.state.settings
    state = ServingState(settings)
    app.state.metrics.attach(state.models, state.store)
    app.state.challenges.service = state.live.challenge
    app.state.metrics.add_collector(StateCollector(state))  # accuracy, drift, queue
    try:
        await anyio.to_thread.run_sync(state.open)
        followed = await anyio.to_thread.run_sync(state.events.last_id)
        state.lease.try_acquire()
    except MlpkgError as exc:
        log.critical("mlpkg cannot start: %s", exc)
        await anyio.to_thread.run_sync(state.close)
        raise
    app.state.serving = state
    tasks = [
        asyncio.create_task(lead(state), name="mlpkg-leader"),
        asyncio.create_task(
            follow_events(state.live.hub, state.events, followed), name="mlpkg-follower"
        ),
    ]
    if settings.model_poll_s > 0:
        tasks.append(asyncio.create_task(poll_models(state), name="mlpkg-model-poller"))
    log.info("mlpkg serving pairs %s (alias %s)", ", ".join(settings.pairs), settings.serve_alias)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await anyio.to_thread.run_sync(state.close)
        log.info("mlpkg serving stopped")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app (no I/O until the lifespan starts).

    Args:
        settings: Machine settings; ``get_settings()`` (environment) when omitted.
    """
    settings = settings or get_settings()
    app = FastAPI(
        title="mlpkg", version=service_version(), description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.metrics = ServingMetrics()  # one registry per app
    app.state.challenges = ChallengeCollector()
    app.state.metrics.add_collector(app.state.challenges)  # live challengers' gauges
    install_error_handling(app)
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(  # added last = outermost, so CORS headers reach every answer
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
    )
    for router in ROUTERS:
        app.include_router(router)
    return app
