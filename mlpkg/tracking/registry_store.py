"""The MLflow model registry read straight from its SQLite file, without importing MLflow.

The prediction server reads the registry at start and on every alias poll: which version an
alias names, the versions and aliases of a model, the registered model names, and where a
version's files are. With MLflow that costs its import (about 2.5 s and ~60 MiB per process
with SQLAlchemy, alembic and OpenTelemetry, measured in docs/benchmarks.md), so for a
``sqlite:///`` tracking URI these reads are a few read-only ``SELECT`` queries on MLflow's own
tables (``registered_models``, ``model_versions``, ``model_version_tags``,
``registered_model_aliases``). Every write (registering, tagging, moving an alias) stays with
MLflow. A contract test (``tests/tracking/test_registry_store.py``) compares each read with
``MlflowClient`` on a real store, so an MLflow upgrade that changes these tables fails there.

Semantics follow ``MlflowClient``: deleted versions (stage ``Deleted_Internal``) are skipped; a
version found by alias carries every alias of that version, versions from ``versions`` carry
none (as ``search_model_versions``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlpkg.errors import RegistryError

DELETED_STAGE = "Deleted_Internal"
"""MLflow's stage of a deleted version (its row stays in ``model_versions``)."""
BUSY_TIMEOUT_S = 10.0
"""How long a read waits for a writer (a training job registering a version)."""


@dataclass(frozen=True)
class VersionRow:
    """A registered version as MLflow stores it (the attribute names of its ``ModelVersion``)."""

    name: str
    version: str
    run_id: str
    creation_timestamp: int
    storage_location: str
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


def _error(db: Path, exc: Exception) -> RegistryError:
    return RegistryError(
        f"Cannot read the model registry in {db} ({exc}). Check MLPKG_TRACKING_URI and the "
        "file (it must be an MLflow SQLite store), then retry; nothing was decided."
    )


def _rows(db: Path, query: str, args: tuple[str, ...]) -> list[tuple[object, ...]]:
    """Run one read-only query; no file or no registry tables yet read as no rows.

    Raises:
        RegistryError: if the file cannot be read (anything but "nothing registered yet").
    """
    if not db.is_file():  # MLflow creates the file and its tables on first use
        return []
    try:
        uri = f"{db.as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)) as connection:
            return list(connection.execute(query, args).fetchall())
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise _error(db, exc) from exc
    except sqlite3.Error as exc:
        raise _error(db, exc) from exc


_VERSION_COLUMNS = "name, version, run_id, creation_time, storage_location"


def _version(
    row: tuple[object, ...], tags: Mapping[str, str], aliases: tuple[str, ...]
) -> VersionRow:
    name, version, run_id, created, location = row
    return VersionRow(
        str(name),
        str(version),
        str(run_id or ""),
        int(str(created or 0)),
        str(location or ""),
        dict(tags),
        aliases,
    )


def _tags(db: Path, name: str, version: str | None = None) -> dict[str, dict[str, str]]:
    """Tags of a model's versions (of one ``version`` when given): version -> key -> value."""
    query = "SELECT version, key, value FROM model_version_tags WHERE name = ?"
    args: tuple[str, ...] = (name,)
    if version is not None:
        query, args = query + " AND version = ?", (name, version)
    found: dict[str, dict[str, str]] = {}
    for v, key, value in _rows(db, query, args):
        found.setdefault(str(v), {})[str(key)] = str(value)
    return found


def aliases(db: Path, name: str) -> dict[str, str]:
    """``alias -> version`` of a registered model (empty when it does not exist)."""
    query = "SELECT alias, version FROM registered_model_aliases WHERE name = ?"
    return {str(alias): str(version) for alias, version in _rows(db, query, (name,))}


def alias_version(db: Path, name: str, alias: str) -> VersionRow | None:
    """The version an alias names, with its tags and all its aliases (``None``: no such alias)."""
    named = aliases(db, name)
    version = named.get(alias)
    if version is None:
        return None
    query = (
        f"SELECT {_VERSION_COLUMNS} FROM model_versions "
        "WHERE name = ? AND version = ? AND current_stage != ?"
    )
    rows = _rows(db, query, (name, version, DELETED_STAGE))
    if not rows:
        return None
    mine = tuple(a for a, v in named.items() if v == version)
    return _version(rows[0], _tags(db, name, version).get(version, {}), mine)


def versions(db: Path, name: str) -> list[VersionRow]:
    """Every version of a registered model, in the store's order (aliases left empty)."""
    query = f"SELECT {_VERSION_COLUMNS} FROM model_versions WHERE name = ? AND current_stage != ?"
    tags = _tags(db, name)
    return [
        _version(r, tags.get(str(r[1]), {}), ()) for r in _rows(db, query, (name, DELETED_STAGE))
    ]


def model_names(db: Path, prefix: str) -> list[str]:
    """The registered model names that start with ``prefix``."""
    found = _rows(db, "SELECT name FROM registered_models", ())
    return [str(name) for (name,) in found if str(name).startswith(prefix)]


def local_folder(location: str) -> Path | None:
    """The local folder of a ``file://`` (or plain path) storage location (else ``None``)."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        folder = Path(unquote(parsed.path))
    elif parsed.scheme == "" and location:
        folder = Path(location)
    else:
        return None
    return folder if folder.is_dir() else None


def running_runs(db: Path) -> int:
    """How many runs of the tracking store are ``RUNNING`` (0 when there is no store yet)."""
    found = _rows(db, "SELECT COUNT(*) FROM runs WHERE status = ?", ("RUNNING",))
    return int(str(found[0][0])) if found else 0
