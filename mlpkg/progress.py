"""Progress events and cooperative cancellation: two separate concerns, one small module.

**Progress** is a typed event, not a string read by prefix: ``ProgressEvent(kind, text, done,
total)``. Training, evaluation, batch and tune call a ``Progress`` callback with one event per
step; the console draws a bar from ``done``/``total`` of the kinds it counts, and the job runner
stores the event on the job row (``stage`` keeps the text, ``progress`` the structured event).
``str(event)`` is its text, so ``progress=print`` still prints one line per step.

**Cancellation** is its own check: ``stop_when(should_stop)`` installs a ``ShouldStop``
callable for the block, and ``raise_if_stopped(where)`` (called between fits, folds and stages,
and by the job's Keras callback between batches) raises ``JobCancelledError`` once it answers
True. Reporting progress never cancels anything; code outside a ``stop_when`` block, or inside a
``cannot_stop`` block (a final model being registered), never stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlpkg.errors import JobCancelledError

ProgressKind = Literal["stage", "fit", "trial", "notebook"]
"""``stage``: a step of a pipeline; ``fit``: one (fold, model, seed) fit of a walk-forward;
``trial``: a tune trial finished, failed or retried; ``notebook``: a batch notebook finished."""


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long operation.

    Attributes:
        kind: What finished or started (``ProgressKind``).
        text: One human line (what the CLI logs and a job's ``stage`` shows).
        done: Steps of this kind finished so far, when counted (1-based).
        total: Steps of this kind expected, when known.
    """

    kind: ProgressKind
    text: str
    done: int | None = None
    total: int | None = None

    def __str__(self) -> str:
        return self.text

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON-ready fields (``kind, text, done, total``)."""
        return asdict(self)


Progress = Callable[[ProgressEvent], None]
"""A progress callback: called with one event per step."""
ShouldStop = Callable[[], bool]
"""Answers whether the running operation should stop at its next checkpoint."""

_SHOULD_STOP: ContextVar[ShouldStop | None] = ContextVar("mlpkg_should_stop", default=None)


def stage(text: str) -> ProgressEvent:
    """A ``stage`` event (a pipeline step, not counted)."""
    return ProgressEvent("stage", text)


def emit(progress: Progress | None, event: ProgressEvent) -> None:
    """Send ``event`` to ``progress`` when there is one."""
    if progress is not None:
        progress(event)


@contextmanager
def stop_when(should_stop: ShouldStop) -> Iterator[None]:
    """Within the block, ``raise_if_stopped`` raises once ``should_stop()`` answers True."""
    token = _SHOULD_STOP.set(should_stop)
    try:
        yield
    finally:
        _SHOULD_STOP.reset(token)


@contextmanager
def cannot_stop() -> Iterator[None]:
    """Within the block nothing stops (e.g. while a final model is being registered)."""
    token = _SHOULD_STOP.set(None)
    try:
        yield
    finally:
        _SHOULD_STOP.reset(token)


def stop_requested() -> bool:
    """Whether the enclosing ``stop_when`` asks to stop (False outside one)."""
    should_stop = _SHOULD_STOP.get()
    return should_stop is not None and should_stop()


def raise_if_stopped(where: str) -> None:
    """A cancellation checkpoint.

    Raises:
        JobCancelledError: if the enclosing ``stop_when`` asks to stop.
    """
    if stop_requested():
        raise JobCancelledError(f"stopped before {where}")
