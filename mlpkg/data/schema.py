"""The candle frame contract: validation, interval inference, gap reports and optional filling.

A candle frame is a ``pd.DataFrame`` indexed by a tz-aware UTC ``DatetimeIndex`` named
``open_time`` (the candle's open time), with exactly the float64 columns ``open, high, low,
close, volume``, strictly increasing in time. Everything here is pure: no files, no network.

Gaps (missing candles) are legal: ``find_gaps`` reports them and ``fill_gaps`` can fill them,
but nothing fills them implicitly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpkg.errors import CandleIntervalError, CandleValidationError

CANDLE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
INDEX_NAME = "open_time"
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")


def _where(index: pd.DatetimeIndex, position: int) -> str:
    """Describe one row by position and open time, for error messages."""
    return f"row {position} (open_time {index[position]})"


def _check_shape(frame: pd.DataFrame) -> str | None:
    if not isinstance(frame, pd.DataFrame):
        return f"expected a pandas DataFrame, got {type(frame).__name__}"
    found = [str(c) for c in frame.columns]
    missing = [c for c in CANDLE_COLUMNS if c not in found]
    extra = [c for c in found if c not in CANDLE_COLUMNS]
    if missing or extra or len(set(found)) != len(found):
        return (
            f"columns must be exactly {', '.join(CANDLE_COLUMNS)}; missing: "
            f"{', '.join(missing) or 'none'}; unexpected or repeated: {', '.join(extra) or 'none'}"
            f" (found {', '.join(found) or 'no columns'}). Rename or select the columns, e.g. "
            f"frame[{list(CANDLE_COLUMNS)}]"
        )
    if frame.empty:
        return "no rows (empty frame). Provide at least one candle"
    return None


def _utc_index(index: pd.Index) -> pd.DatetimeIndex:
    """Return ``index`` as a UTC DatetimeIndex named ``open_time``, or raise with the reason."""
    if not isinstance(index, pd.DatetimeIndex):
        raise CandleValidationError(
            f"the index must be a DatetimeIndex of candle open times, got {type(index).__name__} "
            f"of dtype {index.dtype}. Fix: frame.index = pd.to_datetime(frame.index, utc=True)"
        )
    if index.tz is None:
        raise CandleValidationError(
            "the index is timezone-naive. Fix: frame.index = frame.index.tz_localize('UTC') "
            "if the times are UTC"
        )
    missing = np.flatnonzero(index.isna())
    if missing.size:
        raise CandleValidationError(
            f"the index has a missing timestamp (NaT) at row {missing[0]}. Drop that row"
        )
    return index.tz_convert("UTC").rename(INDEX_NAME)


def _check_order(index: pd.DatetimeIndex) -> str | None:
    duplicated = np.flatnonzero(index.duplicated())
    if duplicated.size:
        pos = int(duplicated[0])
        first = int(np.flatnonzero(index == index[pos])[0])
        return (
            f"duplicate timestamp at {_where(index, pos)}, already at row {first}. Fix: keep one "
            "candle per time, e.g. frame[~frame.index.duplicated(keep='last')]"
        )
    steps = np.diff(index.asi8)
    backwards = np.flatnonzero(steps < 0)
    if backwards.size:
        pos = int(backwards[0]) + 1
        return (
            f"timestamps are not sorted: {_where(index, pos)} is earlier than row {pos - 1} "
            f"({index[pos - 1]}). Fix: frame.sort_index()"
        )
    return None


def _to_float(frame: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Return the candle columns as float64, raising on values that are not numbers."""
    values = {}
    for column in CANDLE_COLUMNS:
        raw = frame[column]
        numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = np.flatnonzero(numbers.isna().to_numpy() & raw.notna().to_numpy())
        if bad.size:
            pos = int(bad[0])
            raise CandleValidationError(
                f"column {column!r} has a non-numeric value {raw.iloc[pos]!r} at "
                f"{_where(index, pos)}. Fix or drop that row"
            )
        values[column] = numbers.to_numpy()
    return pd.DataFrame(values, index=index)


def _first_row(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _check_values(candles: pd.DataFrame) -> str | None:
    index = candles.index
    finite = np.isfinite(candles.to_numpy())
    pos = _first_row(~finite.all(axis=1))
    if pos is not None:
        column = CANDLE_COLUMNS[int(np.flatnonzero(~finite[pos])[0])]
        value = candles[column].iloc[pos]
        return f"column {column!r} is {value} at {_where(index, pos)}. Drop or fill that row"
    for column in PRICE_COLUMNS:
        pos = _first_row(candles[column].to_numpy() <= 0)
        if pos is not None:
            value = candles[column].iloc[pos]
            return (
                f"column {column!r} has a non-positive price {value} at {_where(index, pos)}. "
                "Prices must be > 0: drop or correct that row"
            )
    pos = _first_row(candles["volume"].to_numpy() < 0)
    if pos is not None:
        value = candles["volume"].iloc[pos]
        return f"column 'volume' is negative ({value}) at {_where(index, pos)}. Correct that row"
    return _check_ranges(candles)


def _check_ranges(candles: pd.DataFrame) -> str | None:
    body_high = np.maximum(candles["open"].to_numpy(), candles["close"].to_numpy())
    body_low = np.minimum(candles["open"].to_numpy(), candles["close"].to_numpy())
    pos = _first_row(candles["high"].to_numpy() < body_high)
    if pos is not None:
        row = candles.iloc[pos]
        return (
            f"column 'high' ({row['high']}) is below max(open, close) ({body_high[pos]}) at "
            f"{_where(candles.index, pos)}. Check the column order (open, high, low, close)"
        )
    pos = _first_row(candles["low"].to_numpy() > body_low)
    if pos is not None:
        row = candles.iloc[pos]
        return (
            f"column 'low' ({row['low']}) is above min(open, close) ({body_low[pos]}) at "
            f"{_where(candles.index, pos)}. Check the column order (open, high, low, close)"
        )
    return None


def validate_candles(frame: pd.DataFrame, *, origin: str = "candles") -> pd.DataFrame:
    """Check that ``frame`` is a candle frame and return a clean float64 copy.

    Args:
        frame: candles indexed by open time (tz-aware) with columns ``open, high, low, close,
            volume`` in any order.
        origin: where the candles came from (a file, a URL), named in error messages.

    Returns:
        A copy with a UTC index named ``open_time`` and the columns in canonical order.

    Raises:
        CandleValidationError: on missing or extra columns, an empty frame, a non-datetime or
            naive index, unsorted or duplicate timestamps, NaN/inf values, non-positive prices,
            ``high < max(open, close)``, ``low > min(open, close)`` or negative volume.
    """
    try:
        return _validated(frame)
    except CandleValidationError as exc:
        raise CandleValidationError(f"{origin}: {exc}.") from None


def _validated(frame: pd.DataFrame) -> pd.DataFrame:
    """Run every check in order, raising ``CandleValidationError`` with the first problem."""
    problem = _check_shape(frame)
    if problem is None:
        index = _utc_index(frame.index)
        problem = _check_order(index)
        if problem is None:
            candles = _to_float(frame, index)
            problem = _check_values(candles)
            if problem is None:
                return candles
    raise CandleValidationError(problem)


def infer_frequency(index: pd.DatetimeIndex) -> pd.Timedelta:
    """Return the candle interval: the most common step between consecutive timestamps.

    Ties go to the shorter step.

    Raises:
        CandleValidationError: with fewer than two timestamps or no positive step.
    """
    if len(index) < 2:
        raise CandleValidationError(
            f"Cannot infer the candle interval from {len(index)} timestamp(s): need at least 2."
        )
    steps = pd.Series(np.diff(pd.DatetimeIndex(index).asi8))
    steps = steps[steps > 0]
    if steps.empty:
        raise CandleValidationError(
            "Cannot infer the candle interval: timestamps never increase. Sort and deduplicate."
        )
    unit = pd.DatetimeIndex(index).unit
    return pd.Timedelta(int(steps.mode().min()), unit=unit)


def format_interval(interval: pd.Timedelta) -> str:
    """A candle interval as people write it: ``1 h``, ``5 min``, ``1 d``, ``90 s``."""
    seconds = pd.Timedelta(interval).total_seconds()
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def check_interval(found: pd.Timedelta, expected: pd.Timedelta, *, origin: str) -> None:
    """Refuse candles whose interval is not the one a model was trained on.

    Args:
        found: The candles' interval (``infer_frequency``).
        expected: The model's ``candle_interval``.
        origin: Where the candles come from (named in the message).

    Raises:
        CandleIntervalError: when they differ.
    """
    if pd.Timedelta(found) != pd.Timedelta(expected):
        raise CandleIntervalError(
            f"{origin} has candles of {format_interval(found)} but the model was trained on "
            f"candles of {format_interval(expected)}; its features and horizon mean nothing on "
            "another interval. Serve it candles of that interval (resample the data), or train "
            "a model on these candles."
        )


def _empty_gaps(tz: object) -> pd.DataFrame:
    stamps = pd.DatetimeIndex([], tz=tz or "UTC")
    return pd.DataFrame(
        {"gap_start": stamps, "gap_end": stamps, "missing_candles": np.array([], dtype="int64")}
    )


def find_gaps(candles: pd.DataFrame, interval: pd.Timedelta | None = None) -> pd.DataFrame:
    """Report runs of missing candles.

    A gap is a step of at least two intervals between consecutive candles; steps that are not
    a whole multiple count the whole intervals that fit.

    Args:
        candles: a candle frame (only the index is read).
        interval: the candle interval; inferred with ``infer_frequency`` when omitted.

    Returns:
        One row per gap: ``gap_start`` (first missing open time), ``gap_end`` (last missing
        open time) and ``missing_candles`` (int); an empty frame with these columns if none.
    """
    index = pd.DatetimeIndex(candles.index)
    if len(index) < 2:
        return _empty_gaps(index.tz)
    step = pd.Timedelta(interval) if interval is not None else infer_frequency(index)
    before = index[:-1]
    missing = ((index[1:] - before) // step - 1).to_numpy(dtype="int64")
    is_gap = missing >= 1
    if not is_gap.any():
        return _empty_gaps(index.tz)
    counts = missing[is_gap]
    starts = before[is_gap] + step
    return pd.DataFrame(
        {
            "gap_start": starts,
            "gap_end": starts + pd.TimedeltaIndex([step * int(n - 1) for n in counts]),
            "missing_candles": counts,
        }
    )


def fill_gaps(candles: pd.DataFrame, interval: pd.Timedelta | None = None) -> pd.DataFrame:
    """Return a copy with every missing candle inserted as a flat, zero-volume candle.

    Optional and never done implicitly: each inserted candle has ``open = high = low = close``
    = the previous candle's close and ``volume = 0``. Existing rows are unchanged.

    Args:
        candles: a candle frame.
        interval: the candle interval; inferred with ``infer_frequency`` when omitted.

    Returns:
        The candles plus the inserted rows, sorted by time.
    """
    gaps = find_gaps(candles, interval)
    if gaps.empty:
        return candles.copy()
    step = pd.Timedelta(interval) if interval is not None else infer_frequency(candles.index)
    unit = pd.DatetimeIndex(candles.index).unit
    inserted = [
        pd.date_range(row.gap_start, row.gap_end, freq=step, unit=unit)
        for row in gaps.itertuples(index=False)
    ]
    full_index = candles.index.append(inserted).sort_values().rename(candles.index.name)
    filled = candles.reindex(full_index)
    added = filled["close"].isna().to_numpy()
    previous_close = filled["close"].ffill()
    for column in PRICE_COLUMNS:
        filled[column] = filled[column].where(~added, previous_close)
    filled["volume"] = filled["volume"].where(~added, 0.0)
    return filled
