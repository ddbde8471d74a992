"""The candle feed: each pair's closed candles from the configured source, for the predictor.

``CandleFeed`` reads each pair's candles from the configured source. Shipped candles never
change, so each pair's frame is read once; file and core candles are reused for
``min(prediction_cache_s, CANDLE_REUSE_S)`` seconds (0 = fetched on every request). Core is
asked for at least the model's warm-up + window rows, its snapshots resampled to the model's
candle interval. Only **closed** candles are served (``open_time + interval <= now``, the
service clock: replayed time under ``MLPKG_DATA_SOURCE=replay``), and candles of another
interval than the model's are refused (``CandleIntervalError``). ``UpstreamState`` keeps the
outcome of the latest reads for ``/api/health``.

The HTTP client (httpx, which imports its own command line with rich and pygments: ~0.3 s) is
imported only when the source is core. Everything here blocks except ``peek``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from mlpkg.config import Settings
from mlpkg.data.replay import Clock, WallClock, closed_candles
from mlpkg.data.schema import check_interval, infer_frequency
from mlpkg.data.sources import load_candles
from mlpkg.errors import DataSourceError, MlpkgError

if TYPE_CHECKING:
    import httpx

CANDLE_REUSE_S = 5.0
"""Longest time file/core candles are reused before the source is read again."""


@dataclass
class UpstreamState:
    """The outcome of the latest reads from the candle source."""

    source: str
    url: str | None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None

    @property
    def state(self) -> str:
        """``ok`` / ``error`` from the latest read, ``unknown`` before any read."""
        if self.last_error_at is None:
            return "unknown" if self.last_success is None else "ok"
        if self.last_success is None or self.last_error_at > self.last_success:
            return "error"
        return "ok"


@dataclass(frozen=True)
class _Entry:
    candles: pd.DataFrame
    fetched: float
    interval: pd.Timedelta | None


class CandleFeed:
    """Per-pair candles from ``settings.data_source``.

    Args:
        settings: Machine settings (``data_source``, ``data_dir``, ``core_url``, ...).
        clock: The service clock (a ``ReplayClock`` under replay); the wall clock by default.
    """

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.source = settings.data_source
        self.clock: Clock = clock or WallClock()
        base = settings.replay_from if self.source == "replay" else self.source
        self.reuse_s = (
            float("inf") if base == "shipped" else min(settings.prediction_cache_s, CANDLE_REUSE_S)
        )
        url = settings.core_url if self.source == "core" else None
        self.upstream = UpstreamState(source=self.source, url=url)
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._client: httpx.Client | None = None

    def open(self) -> None:
        """Open the HTTP client used for core (connection reuse)."""
        if self.source == "core" and self._client is None:
            import httpx

            self._client = httpx.Client()

    def close(self) -> None:
        """Close the HTTP client and forget cached candles."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._entries.clear()

    def peek(self, pair: str) -> pd.DataFrame | None:
        """Return the pair's closed candles if in memory and fresh, else ``None`` (no I/O)."""
        entry = self._entries.get(pair)
        if entry is None or time.monotonic() - entry.fetched >= self.reuse_s:
            return None
        return self._closed(entry)

    def candles(
        self, pair: str, min_rows: int = 0, interval: pd.Timedelta | None = None
    ) -> pd.DataFrame:
        """Return the pair's validated, closed candles, oldest first (blocking).

        Args:
            pair: A configured pair.
            min_rows: Fewest candles the caller needs (the model's ``history_rows``).
            interval: The model's candle interval: other candles are refused (core's
                snapshots are resampled to it).

        Raises:
            UnknownPairError, DataSourceError, UpstreamUnavailableError, CandleValidationError:
                from the source (see ``mlpkg.data.sources.load_candles``).
            CandleIntervalError: when the candles are not of ``interval``.
        """
        with self._pair_lock(pair):
            entry = self._entries.get(pair)
            if (
                entry is None
                or time.monotonic() - entry.fetched >= self.reuse_s
                or len(entry.candles) < min_rows
                or (self.source == "core" and interval is not None and entry.interval != interval)
            ):
                entry = self._read(pair, min_rows, interval)
                if self.reuse_s > 0:
                    self._entries[pair] = entry
        if interval is not None and entry.interval is not None:
            check_interval(entry.interval, interval, origin=f"The {self.source} source of {pair}")
        candles = self._closed(entry)
        if len(candles) < min_rows:
            raise DataSourceError(
                f"The {self.source} source has {len(candles)} closed candles for {pair} (up to "
                f"{self.clock.now()}); the model needs {min_rows} (feature warm-up + window). "
                "Provide more history."
            )
        return candles

    def all_candles(self, pair: str) -> pd.DataFrame:
        """Every candle the source holds for the pair, closed or not (blocking).

        Used to place the replay clock; predictions only ever see ``candles``.
        """
        with self._pair_lock(pair):
            entry = self._entries.get(pair) or self._read(pair, 0, None)
            if self.reuse_s > 0:
                self._entries[pair] = entry
        return entry.candles

    def _closed(self, entry: _Entry) -> pd.DataFrame:
        if entry.interval is None:
            return entry.candles
        return closed_candles(entry.candles, self.clock.now(), entry.interval)

    def _pair_lock(self, pair: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(pair, threading.Lock())

    def _read(self, pair: str, min_rows: int, interval: pd.Timedelta | None) -> _Entry:
        try:
            if self.source == "core":
                from mlpkg.data.core_client import fetch_core_candles

                candles = fetch_core_candles(
                    pair, self.settings, interval=interval, min_rows=min_rows, client=self._client
                )
            else:
                candles = load_candles(pair, self.source, self.settings)
            step = interval if self.source == "core" else None
            if step is None and len(candles) >= 2:
                step = infer_frequency(pd.DatetimeIndex(candles.index))
        except MlpkgError as exc:
            self.upstream.last_error = str(exc)
            self.upstream.last_error_at = datetime.now(UTC)
            raise
        self.upstream.last_success = datetime.now(UTC)
        if len(candles) < min_rows:
            raise DataSourceError(
                f"The {self.source} source has {len(candles)} candles for {pair}; the model "
                f"needs {min_rows} (feature warm-up + window). Provide more history."
            )
        return _Entry(candles, time.monotonic(), step)
