"""What every test module may import: the one tiny run config, polling with a deadline, free ports.

``tests/`` is on ``sys.path`` (pytest's ``pythonpath`` option in pyproject), so any test, in any
sub-package, imports these with ``from support import tiny_run_config, poll_until, free_port``.
Fixtures built on them (``tiny_config``, ``free_port``) live in ``tests/conftest.py``.
Also here, so that no test module writes them again: ``mlflow_store`` (point MLflow's global URIs
at a store, then back), ``register_empty_version``, ``prediction_record`` (a stored prediction
with defaults), ``seed_store`` (copy the migrated MLflow schema into a subprocess's home),
``read_shipped_file`` (a shipped pair's raw candles), ``candles_around`` (random candles on a
price path) and ``loaded_by`` (what a fresh ``import`` loads).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
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


SERVED_FAMILY = "lightgbm"
SERVED_RUNTIME = "lightgbm"
SERVED: dict[str, Any] = {"models": SERVED_FAMILY, "n_folds": 1}
"""The session model (``tracked`` in tests/conftest.py): the tiny run of LightGBM on one fold.

TensorFlow-free and trained in seconds (logistic and the naive baselines beside it, as in every
run). The LSTM -> ONNX path is trained only by the end-to-end tests that need it."""


@dataclass(frozen=True)
class Registry:
    """An isolated tracking store (``home``) and the BTC champion trained into it."""

    home: Path
    trained: Any  # mlpkg.pipelines.train.TrainResult (imported lazily: it is heavy)
    champion: Any  # mlpkg.tracking.registry.VersionInfo


MLPKG_CLI = str(Path(sys.executable).parent / "mlpkg")
"""The ``mlpkg`` console script of this virtualenv."""


def subprocess_env(home: Path, *drop: str) -> dict[str, str]:
    """This environment for a subprocess homed at ``home`` (``MLPKG_HOME``), TensorFlow quiet.

    Without this process's ``MLPKG_*`` variables, nor those starting with a ``drop`` prefix
    (``"MLFLOW_"``, ``"RAY_"``).
    """
    prefixes = ("MLPKG_", *drop)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update({"MLPKG_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"})
    return env


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


def train_champion(
    home: Path, settings: Any = None, *, pair: str = "BTC", **served: object
) -> Registry:
    """Train ``pair`` with the tiny run (``served`` overrides) into ``home``'s store; champion.

    MLflow's global URIs then point at ``home`` (training sets them). Also the replay tests'
    champions (a user file's pair, ``source="file"``, ``settings`` with its ``data_dir``).
    """
    from mlpkg.config import Settings as RunSettings
    from mlpkg.evaluation.promotion import manual_decision
    from mlpkg.pipelines.train import train_pair
    from mlpkg.tracking import registry

    settings = settings or RunSettings(home=home, pairs=[pair])
    result = train_pair(tiny_run_config(pair=pair, **served), settings)
    if not result.decision.promote:
        # A tiny model on a few hundred rows rarely beats the baselines: the promotion rule then
        # keeps it a candidate. The tests need a champion, so promote it by hand.
        registry.promote(pair, result.version, manual=manual_decision(result.version))
    champion = registry.alias_version(pair, registry.CHAMPION)
    assert champion is not None and champion.version == result.version
    return Registry(home, result, champion)


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


def stop_process(proc: subprocess.Popen[Any], sig: int, *, grace_s: float) -> None:
    """Stop a server process: ``sig`` (its graceful stop), then SIGKILL after ``grace_s`` s."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


@contextmanager
def mlflow_store(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking and registry URIs at ``uri``; put the previous ones back.

    The in-process servers of tests/serving read the global URIs: a test or fixture that
    registers into another store must not leave them pointing there.
    """
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def register_empty_version(client: Any, folder: Path, pair: str, *aliases: str) -> str:
    """Register a version of the pair's model (an empty folder) and point ``aliases`` at it."""
    from mlpkg.tracking.registry import model_name

    name = model_name(pair)
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    source = folder / "model"
    source.mkdir(exist_ok=True)
    version = str(client.create_model_version(name, source=source.as_uri()).version)
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version)
    return version


def seed_store(settings: Any, schema: Path) -> None:
    """Copy the migrated empty MLflow schema (``mlflow_schema``) to ``settings``' SQLite store.

    Only where no store exists yet; a process that opens it then skips MLflow's migrations.
    """
    target = Path(settings.resolved_tracking_uri.removeprefix("sqlite:///"))
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(schema, target)


def read_shipped_file(pair: str) -> Any:
    """A shipped pair's hourly candles read straight from its file, as float64 on a UTC index.

    No checksum, validation or cache of ``mlpkg.data.sources.load_shipped``: the raw rows, gaps
    included, for tests of the layers above the data layer.
    """
    from importlib import resources

    import pandas as pd

    path = resources.files("mlpkg.datasets") / f"{pair}USD_1h.csv.gz"
    with resources.as_file(path) as file:
        frame = pd.read_csv(file, index_col="open_time")
    frame.index = pd.to_datetime(frame.index, utc=True)
    return frame.astype("float64")


def candles_around(
    rng: Any,
    open_: Any,
    close: Any,
    *,
    vol: float,
    wick_share: float,
    volume_mean: float,
    zero_volume_share: float,
    start: str,
) -> Any:
    """Random hourly candles on the ``open_`` / ``close`` path, the first opening at ``start``.

    Wicks (half-normal, scale ``vol / 2``) on about ``1 - wick_share`` of the candles, exponential
    volumes with about ``zero_volume_share`` zeros. The features' hypothesis strategies draw the
    path, then call this with their own shares.
    """
    import numpy as np
    import pandas as pd

    rows = len(close)
    wick = np.abs(rng.normal(0.0, vol / 2, (2, rows))) * (rng.random((2, rows)) > wick_share)
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.exponential(volume_mean, rows) * (rng.random(rows) > zero_volume_share)
    index = pd.date_range(start, periods=rows, freq="h", tz="UTC", name="open_time")
    frame = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    return pd.DataFrame(frame, index=index)


def prediction_record(candle_time: datetime, **fields: Any) -> Any:
    """A served ``PredictionRecord`` for the candle at ``candle_time``; ``fields`` override.

    By default: BTC, served an hour after the candle opened, h = 1 on hourly candles, an up lean
    of 0.6 with signal HOLD from ``mlpkg-BTC`` version 1, close 100.
    """
    from mlpkg.storage import PredictionRecord

    values: dict[str, Any] = {
        "pair": "BTC",
        "predicted_at": candle_time + timedelta(hours=1),
        "candle_time": candle_time,
        "horizon": 1,
        "interval": timedelta(hours=1),
        "probability": 0.6,
        "direction": "up",
        "confidence": 0.2,
        "signal": "HOLD",
        "model_name": "mlpkg-BTC",
        "model_version": "1",
        "run_id": None,
        "close_at_prediction": 100.0,
    }
    return PredictionRecord.create(**{**values, **fields})


def loaded_by(modules: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of ``heavy`` a fresh interpreter has loaded after ``import <modules>``, sorted."""
    code = f"import sys, {modules}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [name.strip(" '") for name in done.stdout.strip()[1:-1].split(",") if name.strip()]
