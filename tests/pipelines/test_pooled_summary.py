"""The learning-across-pairs summary: wins, picks, uses and DM gains from the unit tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import ResultsNotFoundError
from mlpkg.pipelines.pooled_summary import (
    PairsSummary,
    dm_gain,
    load_summary,
    save_summary,
    summarize,
)

ROOT = Path(__file__).resolve().parents[2]


def _row(pair, family, variant, dev, gain=np.nan, p=np.nan):
    return {
        "pair": pair,
        "family": family,
        "variant": variant,
        "dev_log_loss": dev,
        "holdout_gain_mnat": gain,
        "holdout_dm_p": p,
    }


VARIANTS = pd.DataFrame(
    [
        _row("BTC", "logistic", "per_pair", 0.70),
        _row("BTC", "logistic", "pooled", 0.69, +5.0, 0.01),
        _row("BTC", "logistic", "cross", 0.71, -2.0, 0.90),
        _row("ETH", "logistic", "per_pair", 0.68),
        _row("ETH", "logistic", "pooled", 0.69, +1.0, 0.30),
        _row("ETH", "logistic", "cross", 0.675, +3.0, 0.04),
    ]
)


def test_wins_count_pairs_beaten_on_development_holdout_and_by_the_dm_verdict():
    wins = PairsSummary(VARIANTS, pd.DataFrame()).wins.set_index("variant")
    counts = ["pairs", "dev_wins", "holdout_wins", "holdout_dm_wins"]
    assert wins.loc["pooled", counts].tolist() == [2, 1, 2, 1]
    assert wins.loc["cross", ["dev_wins", "holdout_wins", "holdout_dm_wins"]].tolist() == [1, 1, 1]
    assert "per_pair" not in wins.index


def test_the_development_pick_is_the_lowest_dev_log_loss_and_each_variant_is_a_holdout_use():
    summary = PairsSummary(VARIANTS, pd.DataFrame())
    picks = dict(zip(summary.picks["pair"], summary.picks["variant"], strict=True))
    assert picks == {"BTC": "pooled", "ETH": "cross"}
    assert summary.holdout_uses.to_dict() == {"BTC": 3, "ETH": 3}


def test_dm_gain_is_in_millinats_on_the_common_rows_and_small_p_when_a_is_better():
    times = pd.date_range("2024-01-01", periods=400, freq="h")
    y = np.resize([1, 0], 400)
    better = pd.DataFrame({"open_time": times, "y_true": y, "proba_up": np.where(y, 0.6, 0.4)})
    worse = better.assign(proba_up=0.5)
    gain, p = dm_gain(better, worse.iloc[100:], horizon=5)
    expected = (np.log(2) + np.log(0.6)) * 1000
    assert gain == pytest.approx(expected)
    assert p < 1e-6
    assert dm_gain(worse, better, horizon=5)[1] > 0.99


def test_a_saved_summary_loads_back_with_its_about_text(tmp_path):
    save_summary(PairsSummary(VARIANTS, pd.DataFrame()), tmp_path)
    (tmp_path / "README.md").write_text("What ran: a test.\n")
    loaded = load_summary(tmp_path)
    pd.testing.assert_frame_equal(loaded.variants, VARIANTS)
    assert loaded.cold.empty
    assert loaded.about == "What ran: a test.\n"


def test_missing_results_say_which_file_is_missing_and_how_to_make_it(tmp_path):
    with pytest.raises(ResultsNotFoundError, match=r"variants\.csv does not exist.*--summarize"):
        load_summary(tmp_path / "nothing")
    with pytest.raises(ResultsNotFoundError, match=r"No benchmark units.*bench_pooled\.py"):
        summarize(tmp_path, ["BTC"], ["logistic"])


def test_the_shipped_benchmark_summaries_load_relative_to_the_checkout():
    for name in ("full", "reduced"):
        shipped = load_summary(f"bench/pooled/summaries/{name}")
        assert shipped.about.strip(), f"{name}: README.md says what ran"
        assert set(shipped.variants["variant"]) >= {"per_pair", "pooled"}
        assert (shipped.holdout_uses > 0).all()
        assert (ROOT / "bench/pooled/summaries" / name / "variants.csv").is_file()
