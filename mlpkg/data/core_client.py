"""HTTP client for the replaced system's upstream "core" service (trading-bot-core).

``GET {core_url}/api/pair/{PAIR}`` answers ``history.{timestamps, closes, highs, lows, volumes}``
(equal-length arrays, oldest first, timestamps in epoch milliseconds). Those points are not
candles: after a short preload, core appends a **ticker snapshot** every 5 minutes (``close`` =
the last price, ``high``/``low``/``volume`` = the exchange's rolling 24-hour high, low and
volume, see docs/compat.md §3). A model trained on OHLCV candles must not read
them as candles, so ``fetch_core_candles`` resamples them (``resample_snapshots``) into candles
of the interval asked for (the served model's ``candle_interval``; ``CORE_INTERVAL`` = 5 min by
default), on UTC boundaries:

- ``open`` / ``high`` / ``low`` / ``close`` = first / max / min / last snapshot **price** in
  the interval (the 24-hour high and low say nothing about one interval). High and low are
  therefore the extremes of the sampled prices, a narrower range than the traded one.
- ``volume`` = the change of core's rolling 24-hour volume between the last snapshot of the
  previous interval and the last one of this interval, clipped at 0. That is the interval's
  traded volume **minus** the volume that left the 24-hour window meanwhile: an approximation
  (exact only when volume is steady). The first interval, and one that follows an empty
  interval, have no previous total and are dropped (a missing candle, never stretched).
- An interval without any snapshot is a missing candle; the interval in which core's latest
  point falls may still be forming (the caller keeps closed candles only).
- Snapshots further apart than the interval asked for are refused
  (``CandleIntervalError``): they cannot make candles that short.

The raw points are validated first (``validate_candles``, with ``open`` = previous close clipped
into the point's range), so malformed answers get the same errors as any candle source.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import numpy as np
import pandas as pd

from mlpkg.config import Settings, get_settings, normalize_pair
from mlpkg.data.schema import INDEX_NAME, format_interval, validate_candles
from mlpkg.errors import (
    CandleIntervalError,
    DataSourceError,
    UnknownPairError,
    UpstreamUnavailableError,
)

log = logging.getLogger(__name__)

CORE_INTERVAL = pd.Timedelta(minutes=5)
"""Core's collection interval (``trading.updateInterval`` = 300000 ms), the default candle."""

HISTORY_FIELDS: tuple[str, ...] = ("timestamps", "closes", "highs", "lows", "volumes")
RETRY_BACKOFF_S = 0.5
"""First pause between attempts, doubled after each failure (capped at 4 s)."""
_RETRY_STATUS = frozenset({408, 429})
_FIX = (
    "Start trading-bot-core (or point MLPKG_CORE_URL at it), or use local candles with "
    "MLPKG_DATA_SOURCE=shipped or MLPKG_DATA_SOURCE=file."
)


def fetch_core_candles(
    pair: str,
    settings: Settings | None = None,
    *,
    interval: pd.Timedelta | None = None,
    min_rows: int = 0,
    client: httpx.Client | None = None,
) -> pd.DataFrame:
    """Fetch a pair's history from core and resample it into a validated candle frame.

    Connection errors, timeouts, HTTP 5xx, 408 and 429 are retried ``settings.core_retries``
    times with a short exponential backoff; 404 is not retried. Core's points are ticker
    snapshots: they are resampled into candles of ``interval`` (see the module docstring).

    Args:
        pair: any spelling ``normalize_pair`` accepts.
        settings: machine settings (``core_url``, ``core_timeout_s``, ``core_retries``).
        interval: the candle length wanted (the served model's); ``CORE_INTERVAL`` when omitted.
        min_rows: fewest candles the caller needs.
        client: an ``httpx.Client`` to reuse; a temporary one is opened when omitted.

    Raises:
        UnknownPairError: core answered 404 (the message lists core's ``availablePairs``).
        UpstreamUnavailableError: core is down, timed out, failed or answered an unexpected shape.
        CandleValidationError: core's values are not valid candles (NaN, negative, ...).
        CandleIntervalError: core's points are further apart than ``interval``.
        DataSourceError: fewer than ``min_rows`` candles.
    """
    settings = settings or get_settings()
    name = normalize_pair(pair)
    url = f"{settings.core_url.rstrip('/')}/api/pair/{name}"
    if client is None:
        with httpx.Client() as own_client:
            response = _get_with_retries(own_client, url, settings)
    else:
        response = _get_with_retries(client, url, settings)
    if response.status_code == 404:
        raise UnknownPairError(_not_found_message(name, url, response))
    if not response.is_success:
        raise UpstreamUnavailableError(
            f"core at {url} answered HTTP {response.status_code}: {response.text[:200]!r}. {_FIX}"
        )
    frame = _history_to_frame(_json_body(response, url), url)
    points = validate_candles(frame, origin=f"core /api/pair/{name}")
    step = pd.Timedelta(interval) if interval is not None else CORE_INTERVAL
    candles = resample_snapshots(points, step, origin=f"core at {url}")
    if len(candles) < min_rows:
        raise DataSourceError(
            f"core at {url} has {len(points)} points for {name}, {len(candles)} candles of "
            f"{format_interval(step)}; {min_rows} are needed. Let core collect longer, or use "
            "MLPKG_DATA_SOURCE=shipped or file for more history."
        )
    log.info("%s: %d points from core at %s -> %d candles", name, len(points), url, len(candles))
    return candles


def resample_snapshots(
    points: pd.DataFrame, interval: pd.Timedelta, *, origin: str = "core"
) -> pd.DataFrame:
    """Turn core's ticker snapshots into OHLCV candles of ``interval`` (see the module docs).

    Args:
        points: Validated snapshots (``close`` = last price, ``volume`` = rolling 24 h volume).
        interval: The candle length.
        origin: Named in error messages.

    Returns:
        A validated candle frame; empty intervals, the first interval and one after an empty
        interval are absent.

    Raises:
        CandleIntervalError: when the points' typical spacing exceeds ``interval``.
    """
    index = pd.DatetimeIndex(points.index)
    if len(index) >= 2:
        spacing = pd.Timedelta(int(np.median(np.diff(index.as_unit("ns").asi8))), unit="ns")
        if spacing > interval:
            raise CandleIntervalError(
                f"{origin}: its points are {format_interval(spacing)} apart, more than the "
                f"candle interval {format_interval(interval)} the model needs; such candles "
                "cannot be built from them. Serve a "
                "model trained on longer candles, or collect core's points more often."
            )
    buckets = index.floor(interval)
    price = points["close"].groupby(buckets)
    total = points["volume"].groupby(buckets).last()
    adjacent = pd.Series(total.index, index=total.index).diff() == interval
    volume = total.diff().clip(lower=0.0).where(adjacent)
    candles = pd.DataFrame(
        {
            "open": price.first(),
            "high": price.max(),
            "low": price.min(),
            "close": price.last(),
            "volume": volume,
        }
    ).dropna()
    candles.index = pd.DatetimeIndex(candles.index, name=INDEX_NAME)
    if candles.empty:
        raise DataSourceError(
            f"{origin}: {len(points)} points make no complete {format_interval(interval)} "
            "candle yet (a candle "
            "needs the interval before it too). Let core collect longer."
        )
    return validate_candles(candles, origin=origin)


def _get_with_retries(client: httpx.Client, url: str, settings: Settings) -> httpx.Response:
    """GET ``url``, retrying transient failures; return the first non-transient response."""
    attempts = settings.core_retries + 1
    problem = ""
    for attempt in range(1, attempts + 1):
        try:
            response = client.get(url, timeout=settings.core_timeout_s)
        except httpx.TimeoutException as exc:
            problem = f"no answer within {settings.core_timeout_s} s ({type(exc).__name__})"
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            problem = f"cannot connect ({type(exc).__name__}: {exc})"
        else:
            status = response.status_code
            if status < 500 and status not in _RETRY_STATUS:
                return response
            problem = f"HTTP {status}"
        log.warning("core %s: attempt %d/%d failed: %s", url, attempt, attempts, problem)
        if attempt < attempts:
            time.sleep(min(RETRY_BACKOFF_S * 2 ** (attempt - 1), 4.0))
    raise UpstreamUnavailableError(
        f"core at {url} is unavailable: {problem} after {attempts} attempt(s). {_FIX}"
    )


def _not_found_message(name: str, url: str, response: httpx.Response) -> str:
    try:
        available = response.json().get("availablePairs")
    except (ValueError, AttributeError):
        available = None
    listed = ", ".join(map(str, available)) if isinstance(available, list) else "unknown"
    return (
        f"core at {url} has no pair {name!r} (HTTP 404); core's available pairs: {listed}. "
        "Use one of those, add the pair to core's config, or use MLPKG_DATA_SOURCE=shipped/file."
    )


def _json_body(response: httpx.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise UpstreamUnavailableError(
            f"core at {url} answered something that is not JSON ({response.text[:80]!r}). Is "
            f"MLPKG_CORE_URL pointing at trading-bot-core? {_FIX}"
        ) from exc


def _history_to_frame(payload: Any, url: str) -> pd.DataFrame:
    """Convert core's ``history`` arrays to an (unvalidated) candle frame."""
    history = payload.get("history") if isinstance(payload, dict) else None
    arrays = history if isinstance(history, dict) else {}
    absent = [f for f in HISTORY_FIELDS if not isinstance(arrays.get(f), list)]
    if absent:
        raise UpstreamUnavailableError(
            f"core at {url} answered JSON without the arrays history.{', history.'.join(absent)}"
            f". Is MLPKG_CORE_URL pointing at trading-bot-core (GET /api/pair/:pair)? {_FIX}"
        )
    lengths = {f: len(arrays[f]) for f in HISTORY_FIELDS}
    if len(set(lengths.values())) > 1:
        raise UpstreamUnavailableError(
            f"core at {url} answered history arrays of unequal length ({lengths}); they must "
            f"line up one value per timestamp. {_FIX}"
        )
    numbers = {
        f: pd.to_numeric(pd.Series(arrays[f], dtype=object), errors="coerce").to_numpy(
            dtype="float64"
        )
        for f in HISTORY_FIELDS
    }
    close, low, high = numbers["closes"], numbers["lows"], numbers["highs"]
    previous = np.concatenate([close[:1], close[:-1]])
    stamps = pd.to_datetime(numbers["timestamps"], unit="ms", utc=True, errors="coerce")
    return pd.DataFrame(
        {
            "open": np.fmin(np.fmax(previous, low), high),  # fmin/fmax ignore NaN bounds
            "high": high,
            "low": low,
            "close": close,
            "volume": numbers["volumes"],
        },
        index=pd.DatetimeIndex(stamps, name=INDEX_NAME),
    )
