"""Candles for serving: the configured source, a short reuse window, and the upstream's state.

Shipped candles never change, so each pair's frame is read once. File and core candles are
reused for ``min(prediction_cache_s, CANDLE_REUSE_S)`` seconds (0 = fetched on every request).
Core is asked for at least the model's warm-up + window rows.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pandas as pd

from mlpkg.config import Settings
from mlpkg.data.core_client import fetch_core_candles
from mlpkg.data.sources import load_candles
from mlpkg.errors import DataSourceError, MlpkgError

log = logging.getLogger(__name__)

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


class CandleFeed:
    """Per-pair candles from ``settings.data_source``.

    Args:
        settings: Machine settings (``data_source``, ``data_dir``, ``core_url``, ...).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.source = settings.data_source
        self.reuse_s = (
            float("inf")
            if self.source == "shipped"
            else min(settings.prediction_cache_s, CANDLE_REUSE_S)
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
            self._client = httpx.Client()

    def close(self) -> None:
        """Close the HTTP client and forget cached candles."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._entries.clear()

    def peek(self, pair: str) -> pd.DataFrame | None:
        """Return the pair's candles if they are in memory and fresh, else ``None`` (no I/O)."""
        entry = self._entries.get(pair)
        if entry is None or time.monotonic() - entry.fetched >= self.reuse_s:
            return None
        return entry.candles

    def candles(self, pair: str, min_rows: int = 0) -> pd.DataFrame:
        """Return the pair's validated candles, oldest first (blocking).

        Args:
            pair: A configured pair.
            min_rows: Fewest candles the caller needs (the model's ``history_rows``).

        Raises:
            UnknownPairError, DataSourceError, UpstreamUnavailableError, CandleValidationError:
                from the source (see ``mlpkg.data.sources.load_candles``).
        """
        with self._pair_lock(pair):
            entry = self._entries.get(pair)
            if (
                entry is not None
                and time.monotonic() - entry.fetched < self.reuse_s
                and len(entry.candles) >= min_rows
            ):
                return entry.candles
            candles = self._read(pair, min_rows)
            if self.reuse_s > 0:
                self._entries[pair] = _Entry(candles, time.monotonic())
            return candles

    def _pair_lock(self, pair: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(pair, threading.Lock())

    def _read(self, pair: str, min_rows: int) -> pd.DataFrame:
        try:
            if self.source == "core":
                candles = fetch_core_candles(
                    pair, self.settings, min_rows=min_rows, client=self._client
                )
            else:
                candles = load_candles(pair, self.source, self.settings)
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
        return candles
