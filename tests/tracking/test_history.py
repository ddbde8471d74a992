"""Reading a version's out-of-sample series and walk-forward accuracy back from its run."""

from __future__ import annotations

import pandas as pd

from mlpkg.tracking.history import (
    OUT_OF_SAMPLE_COLUMNS,
    select_out_of_sample,
    walk_forward_accuracy,
)
from mlpkg.tracking.registry import VersionInfo

HOUR = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2019-01-01", tz="UTC")


def _development() -> pd.DataFrame:
    rows = []
    for fold, cutoff, first in ((0, T0 + 9 * HOUR, 15), (1, T0 + 19 * HOUR, 25)):
        for seed in (42, 43):
            for model in ("lstm", "logistic"):
                for i in range(first, first + 5):
                    rows.append(
                        {
                            "fold": fold,
                            "seed": seed,
                            "cutoff": str(cutoff),
                            "open_time": str(T0 + i * HOUR),
                            "model": model,
                            "proba_up": 0.5 + seed / 1000 + i / 100,
                            "y_true": float(i % 2),
                            "future_return": 0.0,
                        }
                    )
    return pd.DataFrame(rows)


def _holdout() -> pd.DataFrame:
    times = [str(T0 + i * HOUR) for i in range(40, 44)]
    return pd.DataFrame(
        {
            "model": ["lstm"] * 4 + ["logistic"] * 4,
            "open_time": times * 2,
            "proba_up": [0.6] * 8,
            "y_true": [1.0] * 8,
            "future_return": 0.0,
            "block": 0,
        }
    )


def test_out_of_sample_rows_are_the_candidates_base_seed_then_the_holdout():
    table = select_out_of_sample(_development(), _holdout(), "lstm", T0 + 35 * HOUR)
    assert list(table.columns) == list(OUT_OF_SAMPLE_COLUMNS)
    assert table["period"].tolist() == ["development"] * 10 + ["holdout"] * 4
    assert table["open_time"].is_monotonic_increasing and table["open_time"].is_unique
    dev = table[table["period"] == "development"]
    assert dev["probability"].iloc[0] == 0.5 + 0.042 + 0.15  # seed 42, not 43
    assert dev["fold"].tolist() == [0] * 5 + [1] * 5
    assert (table["trained_through"] < table["open_time"]).all()
    assert table["fold"].isna().sum() == 4


def test_a_row_made_with_data_after_its_candle_is_dropped():
    development = _development()
    development.loc[0, "cutoff"] = str(T0 + 30 * HOUR)  # a corrupt row: cutoff after its candle
    table = select_out_of_sample(development, None, "lstm", None)
    assert len(table) == 9 and (table["trained_through"] < table["open_time"]).all()
    assert set(table["period"]) == {"development"}


def test_walk_forward_accuracy_comes_from_the_version_tag_first():
    info = VersionInfo("3", "", (), 0.69, 0, dev_accuracy=0.53)
    assert walk_forward_accuracy(info) == 0.53
    assert walk_forward_accuracy(VersionInfo("3", "", (), 0.69, 0)) is None
