"""What every test module may import: the one tiny run config, polling with a deadline, free ports.

``tests/`` is on ``sys.path`` (pytest's ``pythonpath`` option in pyproject), so any test, in any
sub-package, imports these with ``from support import tiny_run_config, poll_until, free_port``.
Fixtures built on them (``tiny_config``, ``free_port``) live in ``tests/conftest.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from mlpkg.config import RunConfig

T = TypeVar("T")

LOOPBACK = "127.0.0.1"

TINY_NEURAL: dict[str, Any] = {
    "window": 8,
    "dense_units": 4,
    "epochs": 1,
    "batch_size": 128,
    "patience": 1,
}
"""Training settings shared by the tiny neural families."""
TINY_SECTIONS: dict[str, dict[str, Any]] = {
    "lstm": {**TINY_NEURAL, "units": 4, "layers": 1},
    "gru": {**TINY_NEURAL, "units": 4, "layers": 1},
    "cnn": {**TINY_NEURAL, "filters": 4, "kernel_size": 2, "layers": 2},
    "transformer": {**TINY_NEURAL, "d_model": 8, "heads": 2, "layers": 1, "ff_units": 8},
    "lightgbm": {
        "window": 8,
        "n_estimators": 30,
        "num_leaves": 4,
        "min_child_samples": 20,
        "patience": 5,
    },
}
"""Each family's tiny hyperparameters (``RunConfig`` section names, without the prefix)."""
TINY_RUN: dict[str, Any] = {
    "max_rows": 1500,
    "n_folds": 2,
    "n_seeds": 1,
    "holdout_fraction": 0.25,
    "holdout_blocks": 2,
    **{f"{family}_{k}": v for family, section in TINY_SECTIONS.items() for k, v in section.items()},
}
"""The one tiny run of the suite (flattened RunConfig names): every family fits in seconds."""


def tiny_params(**overrides: Any) -> dict[str, Any]:
    """The tiny run's flattened parameters (``overrides`` win): notebook or HTTP parameters."""
    return {**TINY_RUN, **overrides}


def tiny_run_config(**overrides: Any) -> RunConfig:
    """The tiny run as a RunConfig: ``tiny_run_config(pair="ETH", models="lstm")``."""
    return RunConfig.from_flat(**tiny_params(**overrides))


def tiny_cli_args(**overrides: Any) -> list[str]:
    """The tiny run as command-line options (``--max-rows 1500 ...``; ``overrides`` win)."""
    params = tiny_params(**overrides)
    return [part for k, v in params.items() for part in (f"--{k.replace('_', '-')}", str(v))]


def poll_until(check: Callable[[], T], *, timeout: float, what: str, every: float = 0.05) -> T:
    """Call ``check`` until it returns something truthy and return that; fail after ``timeout`` s.

    Raises:
        AssertionError: naming ``what`` and the last value, when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    last = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        pause.wait(every)
        last = check()
    return last


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])
