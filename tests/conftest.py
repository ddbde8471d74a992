"""Shared fixtures: shipped candle slices, the tiny run config, a free port, a clean environment,
and the one session model (``tracked``: a TensorFlow-free BTC champion in a tmp MLflow store).

Every test runs without the ``MLPKG_*`` settings and ``MLFLOW_*`` URIs of the shell that started
pytest (a test that needs one sets it with ``monkeypatch``), and none may create an MLflow store
in the repository root (``mlflow.db`` or ``mlruns/`` content): each test is checked after it
runs, and the session once more at its end.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from schedule import heaviest_first, load_seconds
from support import SERVED, Registry, read_shipped_file, tiny_run_config, train_champion
from support import free_port as _free_port

from mlpkg.config import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
_removed_environment: dict[str, str] = {}
_stray_before: set[str] = set()


def settings_variables() -> list[str]:
    """The environment variables that would change ``Settings()`` (or MLflow's default store)."""
    names = {f"MLPKG_{name}".upper() for name in Settings.model_fields}
    return [k for k in os.environ if k.upper() in names or k in MLFLOW_VARIABLES]


def stray_stores() -> set[str]:
    """MLflow stores in the repository root: ``mlflow.db`` and anything in ``mlruns/``."""
    found = {name for name in ("mlflow.db", "mlflow.db-journal") if (ROOT / name).exists()}
    mlruns = ROOT / "mlruns"
    if mlruns.is_dir():
        found |= {f"mlruns/{p.name}" for p in mlruns.iterdir() if p.name != "README.md"}
    return found


def pytest_configure(config: pytest.Config) -> None:
    """Drop the shell's settings before collection (some modules build Settings at import)."""
    for key in settings_variables():
        _removed_environment[key] = os.environ.pop(key)
    _stray_before.update(stray_stores())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Hand the longest modules to the xdist workers first (``tests/schedule.py``)."""
    items[:] = heaviest_first(items, load_seconds())


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give the shell's settings back."""
    os.environ.update(_removed_environment)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if an MLflow store appeared in the repository root while it ran."""
    created = stray_stores() - _stray_before
    if created:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"ERROR: the tests created {sorted(created)} in {ROOT}: some code used MLflow's "
                "default store or the default home; give it a tmp_path home or tracking URI.",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fresh settings and MLflow URIs per test; fail a test that creates a store in the repo root.

    ``get_settings()`` is cleared before and after each test. Training and the tests' own stores
    set MLflow's global tracking and registry URIs; the in-process servers of tests/serving read
    them, so each test's URIs are put back after it (where it changed them).
    """
    get_settings.cache_clear()
    before = stray_stores()
    mlflow = sys.modules.get("mlflow")
    uris = (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) if mlflow else None
    yield
    if mlflow is not None and uris != (mlflow.get_tracking_uri(), mlflow.get_registry_uri()):
        mlflow.set_tracking_uri(uris[0])
        mlflow.set_registry_uri(uris[1])
    get_settings.cache_clear()
    created = stray_stores() - before
    if created:
        _stray_before.update(created)  # blame this test only
        pytest.fail(
            f"{request.node.nodeid} created {sorted(created)} in {ROOT} (MLflow's default store "
            "or the default home): give it a tmp_path home or tracking URI.",
            pytrace=False,
        )


class MigratedSchema:
    """MLflow's SQLite schema built once per test process (a file); new stores copy its pages.

    A new MLflow SQLite store runs MLflow's own schema creation and its alembic migrations
    (``mlflow.store.db.utils._initialize_tables``): 3 to 8 s of CPU for each of the suite's
    hundreds of ``tmp_path`` stores. Here that real function runs once, into ``path`` (on first
    use), and each new store in this process gets the file's pages (``sqlite3`` backup): the
    same tables at the same alembic head, no rows but the default workspace. MLflow then creates
    the default experiment itself, with the new store's artifact root. Subprocesses (servers,
    the CLI, notebook kernels) create theirs the normal way unless the test copies the file into
    their home first (``support.seed_store`` with the ``mlflow_schema`` fixture).
    """

    def __init__(self, path: Path, real: Callable[[Any], None]) -> None:
        self.path = path
        self.real = real
        self.lock = threading.Lock()  # in-process servers may open stores from their threads

    def file(self) -> Path:
        """The template file, built by MLflow's own code the first time it is needed."""
        with self.lock:
            if not self.path.exists():
                import sqlalchemy

                building = self.path.with_suffix(".building")
                engine = sqlalchemy.create_engine(f"sqlite:///{building}")
                self.real(engine)
                engine.dispose()
                building.rename(self.path)
        return self.path

    def initialize(self, engine: Any) -> None:
        """Stand-in for ``_initialize_tables``: copy the template into a new SQLite store."""
        if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
            self.real(engine)
            return
        target = engine.raw_connection()
        try:
            with sqlite3.connect(self.file()) as source:
                source.backup(target.driver_connection)
        finally:
            target.close()


@pytest.fixture(scope="session", autouse=True)
def _migrated_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedSchema]:
    """Every MLflow SQLite store this process creates copies one migrated schema."""
    from mlflow.store.db import utils
    from mlflow.store.model_registry import sqlalchemy_store as registry_store

    real = utils._initialize_tables
    schema = MigratedSchema(tmp_path_factory.mktemp("mlflow-schema") / "mlflow.db", real)
    utils._initialize_tables = registry_store._initialize_tables = schema.initialize
    yield schema
    utils._initialize_tables = registry_store._initialize_tables = real


@pytest.fixture(scope="session")
def mlflow_schema(_migrated_schema: MigratedSchema) -> Path:
    """The migrated empty MLflow store file, to copy into a subprocess's home (``seed_store``)."""
    return _migrated_schema.file()


@pytest.fixture(scope="session")
def btc_full() -> pd.DataFrame:
    """All shipped hourly BTC candles (about 17,500 rows)."""
    return read_shipped_file("BTC")


@pytest.fixture(scope="session")
def btc_candles(btc_full: pd.DataFrame) -> pd.DataFrame:
    """A 1,500-row slice of shipped hourly BTC candles (a copy, safe to mutate)."""
    return btc_full.iloc[-1500:].copy()


@pytest.fixture(scope="session")
def tiny_config():
    """Factory of the suite's tiny RunConfig: ``tiny_config(pair="ETH", models="lstm")``."""
    return tiny_run_config


@pytest.fixture
def free_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    return _free_port()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as ``MLPKG_HOME``: the home of the CLI and ``get_settings()``."""
    monkeypatch.setenv("MLPKG_HOME", str(tmp_path))
    get_settings.cache_clear()
    return tmp_path


@pytest.fixture(scope="session")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The session model: BTC trained once (LightGBM, TensorFlow-free, seconds), champion.

    Its store (``tracked.home``) is shared by the in-process servers of tests/serving; other
    tests copy its files (``tests/reliability``) rather than write to it.
    """
    import mlflow

    previous = mlflow.get_tracking_uri()
    yield train_champion(tmp_path_factory.mktemp("serving"), **SERVED)
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)
