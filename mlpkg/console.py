"""What the command line shows: one line per event, no library noise, progress bars.

* :func:`configure_logging` installs exactly one handler (so no line is printed twice) and turns
  the chatter of MLflow, Alembic, TensorFlow, Ray and Optuna down to warnings at the source.
* :class:`CliProgress` renders ``mlpkg.progress.ProgressEvent``s: a tqdm bar over the events of
  the kinds it counts (``fit`` by default: folds x models x seeds), with a second bar over each
  neural fit's epochs, when stderr is a terminal; otherwise (CI, pipes, papermill) it writes
  each event's text as a log line.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Collection
from contextvars import Token
from types import TracebackType
from typing import Any, Self

from tqdm import tqdm

from mlpkg.progress import ProgressEvent

log = logging.getLogger("mlpkg")

QUIET_LOGGERS: dict[str, int] = {
    "mlflow": logging.WARNING,
    "alembic": logging.WARNING,
    "tensorflow": logging.ERROR,
    "absl": logging.ERROR,
    "h5py": logging.WARNING,
    "ray": logging.WARNING,
    "optuna": logging.WARNING,
    "matplotlib": logging.WARNING,
    "urllib3": logging.WARNING,
    "httpx": logging.WARNING,
    "filelock": logging.WARNING,
    "tf2onnx": logging.ERROR,
}
"""Library loggers and the level below which their messages are dropped."""
QUIET_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    (r".*An input example was not provided", UserWarning),
    (r"In the future `np.object`", FutureWarning),
    (r".*__array__ implementation doesn't accept a copy keyword", DeprecationWarning),
    (r".*The ``noload`` loader strategy is deprecated", Warning),
)
"""Warnings raised inside libraries that say nothing actionable to an mlpkg user."""
QUIET_ENVIRONMENT: dict[str, str] = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_CONFIGURE_LOGGING": "false",
}
"""Set before TensorFlow, gRPC and MLflow read them (the user's own values win)."""


def quiet_libraries() -> None:
    """Silence library noise at the source: environment, logger levels, warning filters."""
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    for message, category in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def configure_logging(level: str = "INFO") -> None:
    """One handler on the root logger (replacing any), one short line per event, quiet libs."""
    quiet_libraries()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:  # libraries with their own handler would print twice
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up chatter (absl, oneDNN lines) sent to /dev/null.

    Those lines are written by C++ straight to file descriptor 2 before any log level applies,
    so the descriptor itself is pointed at /dev/null for the import and one tiny operation.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import keras

        keras.ops.convert_to_numpy(keras.ops.ones((1,)) + 1)
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


def on_terminal() -> bool:
    """Whether progress bars make sense (stderr is an interactive terminal)."""
    return sys.stderr.isatty()


class CliProgress:
    """A progress callback: a bar (and an epoch bar) on a terminal, log lines otherwise.

    Args:
        total: Expected number of counted steps (``None``: unknown, or taken from the events).
        description: The bar's label (e.g. ``"BTC development folds"``).
        bars: Force bars on or off (default: only on a terminal).
        kinds: The event kinds (``ProgressKind``) the bar counts (default: ``fit``); other
            events are shown as text.
    """

    def __init__(
        self,
        total: int | None,
        description: str,
        *,
        bars: bool | None = None,
        kinds: Collection[str] = ("fit",),
    ) -> None:
        self.kinds = frozenset(kinds)
        self.bars = on_terminal() if bars is None else bars
        self.bar = (
            tqdm(
                total=total,
                desc=description,
                unit="/".join(sorted(self.kinds)),
                file=sys.stderr,
                dynamic_ncols=True,
            )
            if self.bars
            else None
        )
        self._token: Token[Any] | None = None
        self._redirect: Any = None

    def __call__(self, event: ProgressEvent) -> None:
        """Record one event: a counted step moves the bar; other events are shown as text."""
        if self.bar is None:
            log.info("%s", event.text)
            return
        if event.kind not in self.kinds:
            self.bar.write(event.text, file=sys.stderr)
            return
        if self.bar.total is None and event.total is not None:
            self.bar.total = event.total
        self.bar.update(1)
        self.bar.set_postfix_str(event.text.split(":", 1)[0][:60], refresh=True)

    def __enter__(self) -> Self:
        if self.bars:
            from tqdm.contrib.logging import logging_redirect_tqdm

            from mlpkg.models.neural import EPOCH_OBSERVERS

            self._token = EPOCH_OBSERVERS.set((_epoch_bar,))
            self._redirect = logging_redirect_tqdm()  # log lines go above the bars
            self._redirect.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            from mlpkg.models.neural import EPOCH_OBSERVERS

            EPOCH_OBSERVERS.reset(self._token)
            self._redirect.__exit__(exc_type, exc, tb)
        if self.bar is not None:
            self.bar.close()


def _epoch_bar() -> Any:
    """A Keras callback drawing one transient bar over a fit's epochs (tqdm's own callback)."""
    from tqdm.keras import TqdmCallback

    return TqdmCallback(verbose=0, leave=False, position=1, file=sys.stderr)
