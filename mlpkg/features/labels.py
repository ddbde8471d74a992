"""Forward-looking targets: the only columns that use future candles (never model inputs)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import pandas as pd

from mlpkg.errors import ConfigError


def make_labels(close: pd.Series, horizons: Sequence[int]) -> pd.DataFrame:
    """Direction and return ``h`` candles ahead, for each horizon.

    ``direction_<h>`` is 1.0 when ``close[t+h] > close[t]`` and 0.0 otherwise (a tie counts as
    down, as in the replaced service); ``future_return_<h>`` is ``close[t+h] / close[t] - 1``.
    Both are NaN on the last ``h`` rows, where the future is unknown.

    Args:
        close: Close prices, oldest first.
        horizons: Positive numbers of candles ahead.

    Returns:
        A float64 frame on ``close``'s index with ``direction_<h>`` and ``future_return_<h>``
        for each horizon, in that order.

    Raises:
        ConfigError: if a horizon is not a positive integer.
    """
    columns: dict[str, pd.Series] = {}
    for horizon in horizons:
        if isinstance(horizon, bool) or not isinstance(horizon, Integral) or horizon < 1:
            raise ConfigError(
                f"Label horizon {horizon!r} is invalid: use a positive whole number of candles."
            )
        horizon = int(horizon)
        future = close.shift(-horizon)
        columns[f"direction_{horizon}"] = (future > close).astype("float64").where(future.notna())
        columns[f"future_return_{horizon}"] = future / close - 1.0
    return pd.DataFrame(columns, index=close.index, dtype="float64")
