"""Where candles come from: the shipped datasets, a user's file, or the upstream core service.

``load_candles(pair, source)`` is the one entry point; every path returns a candle frame checked
by ``mlpkg.data.schema.validate_candles``. Gaps are reported (``find_gaps``), never filled.

- ``shipped``: ``mlpkg/datasets/<PAIR>USD_1h.csv.gz`` read with ``importlib.resources``, its
  sha256 checked against ``SHA256SUMS``.
- ``file``: ``<data_dir>/<PAIR>.csv``, ``.csv.gz`` or ``.parquet`` (``read_candle_file``).
- ``core``: ``GET {core_url}/api/pair/<PAIR>`` (``mlpkg.data.core_client``): core's ticker
  snapshots resampled to candles of ``CORE_INTERVAL`` (5 min).
- ``replay``: the replay's base candles (``MLPKG_REPLAY_FROM``: ``shipped`` or ``file``), all
  of them. The service reveals them up to its replay clock (``mlpkg.data.replay``), and the
  training jobs it queues stop at that clock (``data_end``).
"""

from __future__ import annotations

import hashlib
import io
import logging
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlpkg.config import (
    DEFAULT_CALENDAR,
    SHIPPED_PAIRS,
    DataSourceName,
    Settings,
    get_settings,
    normalize_pair,
)
from mlpkg.data.calendars import get_calendar, session_report
from mlpkg.data.schema import (
    CANDLE_COLUMNS,
    INDEX_NAME,
    find_gaps,
    infer_frequency,
    validate_candles,
)
from mlpkg.errors import ConfigError, DataSourceError, UnknownPairError

__all__ = [
    "candles_checksum",
    "describe_candles",
    "find_gaps",
    "load_candles",
    "load_shipped",
    "read_candle_file",
]

log = logging.getLogger(__name__)

FILE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")
REQUIRED_FILE_COLUMNS: tuple[str, ...] = (INDEX_NAME, *CANDLE_COLUMNS)
_SUMS_FILE = "SHA256SUMS"
_CHECKSUM_VERSION = b"mlpkg-candles-v1\n"
_EPOCH_MS_FLOOR = 1e11  # 1973-03-03 in epoch ms; epoch seconds stay below it until year 5138


def load_candles(
    pair: str, source: DataSourceName, settings: Settings | None = None
) -> pd.DataFrame:
    """Load a pair's validated candles from ``shipped``, ``file``, ``core`` or ``replay``.

    Args:
        pair: any spelling ``normalize_pair`` accepts (``btc``, ``BTC_USDT``, ``BTCUSD``).
        source: ``shipped`` (packaged data), ``file`` (``<data_dir>/<PAIR>.csv|.csv.gz|.parquet``),
            ``core`` (the upstream service at ``core_url``) or ``replay`` (the whole base of the
            replay: ``shipped`` or ``file`` as ``settings.replay_from`` says).
        settings: machine settings; ``get_settings()`` when omitted.

    Returns:
        A candle frame (UTC ``open_time`` index, float64 ``open, high, low, close, volume``).

    Raises:
        ConfigError: for an unknown source or an invalid pair name.
        UnknownPairError: when the source has no such pair.
        DataSourceError: when the data cannot be read (``UpstreamUnavailableError`` for core).
        CandleValidationError: when the data is malformed.
    """
    settings = settings or get_settings()
    name = normalize_pair(pair)
    if source == "replay":
        source = settings.replay_from
    if source == "shipped":
        candles = load_shipped(name)
    elif source == "file":
        candles = _load_user_file(name, settings)
    elif source == "core":
        from mlpkg.data.core_client import fetch_core_candles  # httpx only for core

        candles = fetch_core_candles(name, settings)
    else:
        raise ConfigError(
            f"Unknown data source {source!r}: use 'shipped', 'file', 'core' or 'replay'."
        )
    log.info(
        "%s: %d candles from %s (%s .. %s)",
        name,
        len(candles),
        source,
        candles.index[0],
        candles.index[-1],
    )
    return candles


def _datasets_root() -> Traversable:
    """The folder of shipped candle files (a package resource)."""
    return resources.files("mlpkg.datasets")


def _expected_sha256(root: Traversable, file_name: str) -> str:
    sums = (root / _SUMS_FILE).read_text(encoding="utf-8")
    for line in sums.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == file_name:
            return parts[0].lower()
    raise DataSourceError(
        f"{_SUMS_FILE} has no checksum for {file_name}: the installed package is incomplete. "
        "Reinstall mlpkg (pip install --force-reinstall -e .)."
    )


def load_shipped(pair: str) -> pd.DataFrame:
    """Load the packaged hourly USD candles of a shipped pair (BTC, ETH, LTC, XRP, EOS).

    The file's sha256 is checked against ``mlpkg/datasets/SHA256SUMS`` first.

    Raises:
        UnknownPairError: if the pair is not shipped (the message lists the shipped pairs and
            how to bring your own file).
        DataSourceError: if the file is missing or corrupt (checksum mismatch).
    """
    name = normalize_pair(pair)
    if name not in SHIPPED_PAIRS:
        raise UnknownPairError(
            f"No shipped candles for {name!r}; shipped pairs: {', '.join(SHIPPED_PAIRS)}. "
            f"To use {name}, save its candles as data/{name}.csv (or .csv.gz / .parquet; columns "
            f"{', '.join(REQUIRED_FILE_COLUMNS)}) and set MLPKG_DATA_SOURCE=file, or fetch them "
            "from core with MLPKG_DATA_SOURCE=core."
        )
    root = _datasets_root()
    file_name = f"{name}USD_1h.csv.gz"
    path = Path(str(root / file_name))
    try:
        stat = path.stat()
    except OSError as exc:
        raise DataSourceError(
            f"Shipped file {file_name} cannot be read ({exc}). Reinstall mlpkg."
        ) from exc
    return _read_shipped(path, stat.st_mtime_ns, stat.st_size).copy()


@lru_cache(maxsize=2 * len(SHIPPED_PAIRS))
def _read_shipped(path: Path, mtime_ns: int, size: int) -> pd.DataFrame:
    """Read and verify one shipped file; cached per (file, mtime, size), so it is hashed once."""
    root, file_name = path.parent, path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataSourceError(
            f"Shipped file {file_name} cannot be read ({exc}). Reinstall mlpkg."
        ) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != _expected_sha256(root, file_name):
        raise DataSourceError(
            f"Shipped file {file_name} is corrupt: its sha256 {actual} does not match "
            f"{_SUMS_FILE}. Reinstall mlpkg (pip install --force-reinstall -e .)."
        )
    raw = pd.read_csv(io.BytesIO(data), compression="gzip")
    return _to_candles(raw, origin=f"shipped {file_name}")


def _load_user_file(pair: str, settings: Settings) -> pd.DataFrame:
    folder = settings.resolve(settings.data_dir)
    for suffix in FILE_SUFFIXES:
        path = folder / f"{pair}{suffix}"
        if path.is_file():
            return read_candle_file(path)
    raise DataSourceError(
        f"No candle file for {pair} in {folder}: expected data/{pair}.csv, data/{pair}.csv.gz "
        f"or data/{pair}.parquet there, with columns {', '.join(REQUIRED_FILE_COLUMNS)}. "
        "Put the file there, point MLPKG_DATA_DIR at its folder, or use MLPKG_DATA_SOURCE=shipped."
    )


def read_candle_file(path: Path) -> pd.DataFrame:
    """Read and validate a user's candle file (``.csv``, ``.csv.gz`` or ``.parquet``).

    The file needs the columns ``open_time, open, high, low, close, volume`` (any case; other
    columns are ignored). ``open_time`` is the candle's open time as ISO-8601 (UTC assumed when
    it has no offset) or as epoch milliseconds.

    Raises:
        DataSourceError: if the file is missing, of another type, unreadable or lacks columns.
        CandleValidationError: if the candles are malformed (the message names the row).
    """
    path = Path(path)
    if not path.is_file():
        raise DataSourceError(
            f"Candle file not found: {path}. Expected a file named like data/<PAIR>.csv, "
            "data/<PAIR>.csv.gz or data/<PAIR>.parquet (e.g. data/BTC.csv)."
        )
    name = path.name.lower()
    if not name.endswith(FILE_SUFFIXES):
        raise DataSourceError(
            f"Unsupported candle file type: {path}. Use .csv, .csv.gz or .parquet."
        )
    try:
        raw = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types for a bad file
        raise DataSourceError(
            f"Cannot read candle file {path}: {type(exc).__name__}: {exc}. Check that it is a "
            "valid CSV (optionally gzip-compressed) or Parquet file."
        ) from exc
    return _to_candles(raw, origin=str(path))


def _to_candles(raw: pd.DataFrame, *, origin: str) -> pd.DataFrame:
    """Turn a raw table with an ``open_time`` column (any case) into a validated candle frame."""
    if INDEX_NAME not in [str(c).strip().lower() for c in raw.columns] and raw.index.name:
        raw = raw.reset_index()  # e.g. parquet written from a frame indexed by open_time
    renamed = raw.rename(columns=lambda c: str(c).strip().lower())
    found = list(renamed.columns)
    missing = [c for c in REQUIRED_FILE_COLUMNS if c not in found]
    if missing or len(set(found)) != len(found):
        raise DataSourceError(
            f"{origin}: wrong columns. Expected {', '.join(REQUIRED_FILE_COLUMNS)}; found "
            f"{', '.join(map(str, raw.columns)) or 'none'} (missing: {', '.join(missing) or 'none'}"
            "; names are case-insensitive and must appear once). Rename the columns."
        )
    frame = renamed[list(CANDLE_COLUMNS)].copy()
    frame.index = _parse_open_time(renamed[INDEX_NAME], origin=origin)
    return validate_candles(frame, origin=origin)


def _parse_open_time(column: pd.Series, *, origin: str) -> pd.DatetimeIndex:
    """Parse ISO-8601 strings (naive = UTC), datetimes or epoch milliseconds to a UTC index."""
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric and column.abs().max() < _EPOCH_MS_FLOOR:
        raise DataSourceError(
            f"{origin}: column open_time holds numbers below {_EPOCH_MS_FLOOR:.0e}, which look "
            "like epoch seconds; write epoch milliseconds (seconds * 1000) or ISO-8601 times."
        )
    try:
        if numeric:
            stamps = pd.to_datetime(column, unit="ms", utc=True)
        elif pd.api.types.is_datetime64_any_dtype(column):
            stamps = pd.to_datetime(column, utc=True)
        else:
            stamps = pd.to_datetime(column.astype("string"), utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataSourceError(
            f"{origin}: column open_time must hold ISO-8601 times (e.g. 2019-01-01T00:00:00Z) "
            f"or epoch milliseconds ({exc})."
        ) from exc
    return pd.DatetimeIndex(stamps, name=INDEX_NAME)


def candles_checksum(candles: pd.DataFrame) -> str:
    """Return the sha256 hex digest of the candles' times and values.

    The bytes hashed are a version tag, the column names, the open times as int64 nanoseconds
    since the epoch (UTC) and the float64 values row by row, all little-endian: the same
    candles give the same digest whatever file or source they came from.
    """
    index = pd.DatetimeIndex(candles.index)
    times = np.ascontiguousarray(index.as_unit("ns").asi8, dtype="<i8")
    values = np.ascontiguousarray(candles[list(CANDLE_COLUMNS)].to_numpy(dtype="<f8"))
    digest = hashlib.sha256(_CHECKSUM_VERSION)
    digest.update(",".join(CANDLE_COLUMNS).encode() + b"\n")
    digest.update(times.tobytes())
    digest.update(values.tobytes())
    return digest.hexdigest()


def describe_candles(candles: pd.DataFrame, calendar: str = "") -> dict[str, Any]:
    """Summarise a candle frame: size, time range, interval and gaps.

    Args:
        candles: A candle frame.
        calendar: The pair's trading calendar; for any but 24/7 the gaps are the missing
            trading bars only, and ``closed_bars`` counts the bars its closures skip.

    Returns:
        ``rows``, ``start``, ``end`` (``pd.Timestamp`` or None), ``interval`` (``pd.Timedelta``
        or None), ``gaps`` (number of gaps), ``missing_candles``, ``first_close``,
        ``last_close`` (float or None); with a calendar, ``calendar`` and ``closed_bars``.
    """
    rows = len(candles)
    interval = infer_frequency(candles.index) if rows >= 2 else None
    gaps = find_gaps(candles, interval) if interval is not None else None
    sessions: dict[str, Any] = {}
    if calendar and calendar != DEFAULT_CALENDAR and interval is not None:
        report = session_report(pd.DatetimeIndex(candles.index), get_calendar(calendar), interval)
        sessions = {
            "calendar": calendar,
            "closed_bars": report.closed_bars,
            "gaps": report.gaps,
            "missing_candles": report.missing_bars,
        }
    return {
        "rows": rows,
        "start": candles.index[0] if rows else None,
        "end": candles.index[-1] if rows else None,
        "interval": interval,
        "gaps": 0 if gaps is None else len(gaps),
        "missing_candles": 0 if gaps is None else int(gaps["missing_candles"].sum()),
        "first_close": float(candles["close"].iloc[0]) if rows else None,
        "last_close": float(candles["close"].iloc[-1]) if rows else None,
        **sessions,
    }
