"""Shared fixtures: shipped candle slices, an isolated MLflow store, a tiny run config."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest


def _read_shipped(pair: str) -> pd.DataFrame:
    path = resources.files("mlpkg.datasets") / f"{pair}USD_1h.csv.gz"
    with resources.as_file(path) as file:
        frame = pd.read_csv(file, index_col="open_time")
    frame.index = pd.to_datetime(frame.index, utc=True)
    return frame.astype("float64")


@pytest.fixture(scope="session")
def btc_full() -> pd.DataFrame:
    """All shipped hourly BTC candles (about 17,500 rows)."""
    return _read_shipped("BTC")


@pytest.fixture(scope="session")
def btc_candles(btc_full: pd.DataFrame) -> pd.DataFrame:
    """A 1,500-row slice of shipped hourly BTC candles (a copy, safe to mutate)."""
    return btc_full.iloc[-1500:].copy()
