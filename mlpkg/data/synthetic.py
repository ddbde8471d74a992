"""Synthetic hourly candles with a known answer: a pure random walk, or one with a planted signal.

Used by the tests and benchmarks of the selection protocol: on a random walk nothing is
learnable, so any promotion is a false one; with ``hourly_drift`` the expected return depends
on the UTC hour (which the time-of-day features see), so a model can learn it and should pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpkg.data.schema import validate_candles


def synthetic_candles(
    n_rows: int,
    seed: int,
    *,
    volatility: float = 0.01,
    hourly_drift: float = 0.0,
    start: str = "2020-01-01",
) -> pd.DataFrame:
    """Hourly candles from a geometric random walk, optionally with an hour-of-day drift.

    Args:
        n_rows: Number of hourly candles.
        seed: Seed of the random generator.
        volatility: Standard deviation of each hourly log return.
        hourly_drift: Amplitude of a mean log return that follows the UTC hour:
            ``hourly_drift * sin(2 pi (hour + 2.5) / 24)`` (0: a pure random walk).
        start: UTC time of the first candle.

    Returns:
        A validated candle frame (UTC ``open_time`` index; open, high, low, close, volume).
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n_rows, freq="h", tz="UTC", name="open_time")
    drift = hourly_drift * np.sin(2.0 * np.pi * (index.hour.to_numpy() + 2.5) / 24.0)
    log_returns = drift + rng.normal(0.0, volatility, n_rows)
    close = 100.0 * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, volatility / 2.0, (2, n_rows)))
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * np.exp(wick[0]),
            "low": np.minimum(open_, close) * np.exp(-wick[1]),
            "close": close,
            "volume": rng.lognormal(10.0, 0.5, n_rows),
        },
        index=index,
    )
    return validate_candles(frame, origin="synthetic candles")
