"""Shared fixtures: shipped candle slices, an isolated MLflow store, a tiny run config."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from mlpkg.config import RunConfig


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


TINY_NEURAL = {"window": 8, "dense_units": 4, "epochs": 1, "batch_size": 128, "patience": 1}
TINY_SECTIONS = {
    "lstm": {**TINY_NEURAL, "units": 4, "layers": 1},
    "gru": {**TINY_NEURAL, "units": 4, "layers": 1},
    "cnn": {**TINY_NEURAL, "filters": 4, "kernel_size": 2, "layers": 2},
    "transformer": {**TINY_NEURAL, "d_model": 8, "heads": 2, "layers": 1, "ff_units": 8},
    "lightgbm": {
        "window": 8,
        "n_estimators": 30,
        "num_leaves": 4,
        "min_child_samples": 20,
        "patience": 5,
    },
}
TINY_RUN = {
    "max_rows": 1500,
    "n_folds": 2,
    "holdout_fraction": 0.25,
    "holdout_blocks": 2,
    **{f"{family}_{k}": v for family, section in TINY_SECTIONS.items() for k, v in section.items()},
}
"""The one tiny run config of the test suite: every family small enough to fit in seconds."""


def tiny_run_config(**overrides) -> RunConfig:
    """A RunConfig with tiny models, few rows and 2 folds (``overrides`` win)."""
    return RunConfig.from_flat(**{**TINY_RUN, **overrides})


@pytest.fixture(scope="session")
def tiny_config():
    """Factory of the suite's tiny RunConfig: ``tiny_config(pair="ETH", models="lstm")``."""
    return tiny_run_config
