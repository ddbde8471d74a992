from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlpkg.errors import ModelLoadError
from mlpkg.models import LightGBMDirectionClassifier, window_summaries
from mlpkg.models.lightgbm import summary_names

from .conftest import make_model


def test_window_summaries_are_latest_mean_std_and_change_of_each_window():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(30, 2))
    table = window_summaries(values, 4)
    frame = pd.DataFrame(values)

    assert table.shape == (30, 8)
    assert np.isnan(table[:3, 2:]).all()
    np.testing.assert_array_equal(table[:, :2], values)
    np.testing.assert_allclose(table[3:, 2:4], frame.rolling(4).mean().to_numpy()[3:])
    np.testing.assert_allclose(table[3:, 4:6], frame.rolling(4).std(ddof=0).to_numpy()[3:])
    np.testing.assert_allclose(table[3:, 6:], (frame - frame.shift(3)).to_numpy()[3:])
    assert summary_names(["a", "b"], 4) == [
        "a",
        "b",
        "a__wmean",
        "b__wmean",
        "a__wstd",
        "b__wstd",
        "a__wchange",
        "b__wchange",
    ]


def test_window_summaries_of_a_row_depend_on_its_window_alone():
    values = np.random.default_rng(1).normal(size=(5000, 3)) * 1e3
    full = window_summaries(values, 24)
    tail = window_summaries(values[4000:], 24)

    np.testing.assert_array_equal(tail[23:], full[4023:])  # bit-identical, chunking included


def test_window_one_uses_the_latest_row_only():
    values = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(window_summaries(values, 1), values)
    assert summary_names(["a", "b"], 1) == ["a", "b"]


def test_early_stopping_keeps_the_best_iteration(fitted_cache):
    model, _ = fitted_cache.get("lightgbm")

    assert model.rounds_run_ <= model.n_estimators
    assert model.booster_.current_iteration() == model.stopping_point_  # cut at the best
    if model.rounds_run_ < model.n_estimators:
        assert model.rounds_run_ == model.stopping_point_ + model.patience
    assert model.best_score_ is not None and model.best_score_ > 0


def test_fit_is_silent_and_deterministic(fitted_cache, capfd):
    X, y = fitted_cache.data
    first = make_model("lightgbm", feature_fraction=0.5).fit(X, y)
    second = make_model("lightgbm", feature_fraction=0.5).fit(X, y)

    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert first.booster_.model_to_string() == second.booster_.model_to_string()


def test_load_rejects_a_corrupt_booster_or_other_features(fitted_cache, tmp_path):
    model, _ = fitted_cache.get("lightgbm")
    model.save(tmp_path / "m")
    record_file = tmp_path / "m" / "estimator.json"
    record = json.loads(record_file.read_text())

    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["booster.txt", "estimator.json"]
    record["feature_names"] = record["feature_names"][:-1]
    record_file.write_text(json.dumps(record))
    with pytest.raises(ModelLoadError, match=r"reads 16 inputs .* implies 12"):
        LightGBMDirectionClassifier.load(tmp_path / "m")
    (tmp_path / "m" / "booster.txt").write_text("tree\nnonsense")
    with pytest.raises(ModelLoadError, match="Cannot load the LightGBM model"):
        LightGBMDirectionClassifier.load(tmp_path / "m")
