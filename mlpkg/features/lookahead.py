"""A reusable look-ahead check: features recomputed on a truncated history must not change."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

VIOLATION_COLUMNS: tuple[str, ...] = (
    "column",
    "cutoff",
    "n_changed",
    "first_changed",
    "max_abs_diff",
)


def _changed_rows(full: pd.Series, truncated: pd.Series, atol: float) -> np.ndarray:
    """Boolean mask of rows whose value differs (NaN equals NaN; NaN versus a number differs)."""
    a = full.to_numpy(dtype="float64")
    b = truncated.to_numpy(dtype="float64")
    a_nan, b_nan = np.isnan(a), np.isnan(b)
    with np.errstate(invalid="ignore"):
        differs = np.abs(a - b) > atol
    changed: np.ndarray = (a_nan != b_nan) | (differs & ~a_nan & ~b_nan)
    return changed


def _violation(
    column: str, cutoff: int, full: pd.Series, truncated: pd.Series, atol: float
) -> dict[str, object] | None:
    changed = _changed_rows(full, truncated, atol)
    if not changed.any():
        return None
    gap = np.abs(full.to_numpy(dtype="float64") - truncated.to_numpy(dtype="float64"))[changed]
    return {
        "column": column,
        "cutoff": cutoff,
        "n_changed": int(changed.sum()),
        "first_changed": full.index[int(np.argmax(changed))],
        "max_abs_diff": float(np.nanmax(gap)) if np.isfinite(gap).any() else np.nan,
    }


def lookahead_violations(
    builder: Callable[[pd.DataFrame], pd.DataFrame],
    candles: pd.DataFrame,
    cutoffs: Sequence[int],
    *,
    atol: float = 1e-9,
) -> pd.DataFrame:
    """Find feature columns whose past values change when later candles are removed.

    For each cutoff the builder runs on ``candles.iloc[:cutoff]``; on those common rows every
    column must equal the full-history result (within ``atol``; NaN equals NaN). A column the
    truncated result lacks counts as changed on every row.

    Args:
        builder: Maps a candle frame to a feature frame on the same index, e.g.
            ``lambda c: build_features(c, config)``.
        candles: The full history, oldest first.
        cutoffs: Numbers of leading rows to keep, each in ``1 .. len(candles)``.
        atol: Largest absolute difference still counted as equal (0 demands equality).

    Returns:
        One row per (column, cutoff) that changed, with ``column, cutoff, n_changed,
        first_changed, max_abs_diff``; an empty frame when nothing looks ahead.
    """
    full = builder(candles)
    rows: list[dict[str, object]] = []
    for cutoff in cutoffs:
        truncated = builder(candles.iloc[:cutoff])
        common = full.iloc[:cutoff]
        for column in full.columns:
            other = truncated[column] if column in truncated.columns else common[column] * np.nan
            found = _violation(str(column), int(cutoff), common[column], other, atol)
            if found is not None:
                rows.append(found)
    return pd.DataFrame(rows, columns=list(VIOLATION_COLUMNS))
