"""The serving runtimes agree with the native estimators, and reading a bundle needs no Keras.

Each family is fitted tiny on real features (the last 2,000 shipped BTC candles -> 1,556 feature
rows -> at least 1,500 windows), saved with its runtime artifact (``export_bundle``: ONNX for
the neural families), loaded with ``load_member`` and compared row by row with the estimator's
own ``predict_proba``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import loaded_by

from mlpkg.config import FAMILIES, NEURAL_FAMILIES
from mlpkg.errors import ModelLoadError
from mlpkg.features.build import build_features
from mlpkg.features.labels import make_labels
from mlpkg.models.families import make_estimator
from mlpkg.serving.runtime import load_member, load_runtime_bundle
from mlpkg.tracking.export import ONNX_FILE, PARITY_TOLERANCE, export_bundle

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXPECTED_RUNTIME = {
    **dict.fromkeys(NEURAL_FAMILIES, "onnxruntime"),
    "lightgbm": "lightgbm",
    "logistic": "numpy",
}
MIN_WINDOWS = 1000


@pytest.fixture(scope="module")
def real_rows(btc_full: pd.DataFrame, tiny_config) -> tuple[pd.DataFrame, pd.Series]:
    """Features and labels of the last 2,000 shipped BTC candles (warm-up dropped)."""
    config = tiny_config()
    candles = btc_full.iloc[-2000:]
    features = build_features(candles, config.features).dropna()
    labels = make_labels(candles["close"], [config.horizon])[f"direction_{config.horizon}"]
    return features, labels.loc[features.index]


@pytest.fixture(scope="module")
def fit_saved(tiny_config):
    """Fit a tiny family on real rows, save it with its runtime artifact under ``root``."""

    def fit(family: str, rows: tuple[pd.DataFrame, pd.Series], root: Path):
        X, y = rows
        estimator = make_estimator(family, tiny_config()).fit(X, y)
        estimator.save(root / "members" / family)
        return estimator, export_bundle({family: estimator}, root)

    return fit


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_runtime_agrees_with_the_estimator_on_real_windows(family, real_rows, fit_saved, tmp_path):
    estimator, runtimes = fit_saved(family, real_rows, tmp_path)
    assert runtimes == {family: EXPECTED_RUNTIME[family]}
    X = real_rows[0]
    member = load_member(family, tmp_path / "members" / family, list(X.columns))
    assert member.runtime == EXPECTED_RUNTIME[family]
    assert member.context_rows == estimator.context_rows

    ours = member.predict_up(X.to_numpy())
    native = estimator.predict_proba(X)[:, 1]

    scored = np.isfinite(native)
    assert scored.sum() >= MIN_WINDOWS
    assert np.array_equal(np.isfinite(ours), scored)  # NaN exactly where history is short
    assert np.max(np.abs(ours[scored] - native[scored])) <= PARITY_TOLERANCE
    # One window at a time, as the server calls it, gives the same numbers.
    rows = member.context_rows + 1
    last = member.predict_up(X.to_numpy()[-rows:])[-1]
    assert abs(last - native[-1]) <= PARITY_TOLERANCE


@pytest.mark.slow
def test_a_neural_member_without_onnx_is_served_by_keras(real_rows, fit_saved, tmp_path):
    estimator, _ = fit_saved("lstm", real_rows, tmp_path)
    (tmp_path / "members" / "lstm" / ONNX_FILE).unlink()
    X = real_rows[0]
    member = load_member("lstm", tmp_path / "members" / "lstm", list(X.columns))
    assert member.runtime == "keras"
    native = estimator.predict_proba(X.iloc[-50:])[:, 1]
    assert np.allclose(member.predict_up(X.iloc[-50:].to_numpy()), native, equal_nan=True)


@pytest.mark.slow
def test_a_member_whose_features_differ_from_the_bundle_is_refused(real_rows, fit_saved, tmp_path):
    fit_saved("logistic", real_rows, tmp_path)
    names = [*real_rows[0].columns[1:], real_rows[0].columns[0]]
    with pytest.raises(ModelLoadError, match="other features"):
        load_member("logistic", tmp_path / "members" / "logistic", names)


@pytest.mark.slow
def test_a_corrupt_onnx_file_is_refused_with_a_way_out(real_rows, fit_saved, tmp_path):
    fit_saved("cnn", real_rows, tmp_path)
    (tmp_path / "members" / "cnn" / ONNX_FILE).write_bytes(b"not a graph")
    with pytest.raises(ModelLoadError, match="retrain"):
        load_member("cnn", tmp_path / "members" / "cnn", list(real_rows[0].columns))


def test_reading_a_bundle_imports_neither_tensorflow_nor_scikit_learn():
    heavy = ("tensorflow", "keras", "sklearn", "lightgbm", "matplotlib")
    assert loaded_by("mlpkg.serving.runtime, mlpkg.serving.app", heavy) == []


def test_best_member_is_the_lowest_development_log_loss(tiny_config, real_rows):
    from mlpkg.serving.runtime import RuntimeBundle

    bundle = RuntimeBundle(
        candidate="stacked",
        members={},
        weights={"lstm": 0.7, "logistic": 0.3},
        run_config=tiny_config(),
        feature_names=list(real_rows[0].columns),
        warmup_rows=444,
        candle_interval=pd.Timedelta(hours=1),
        member_scores={"lstm": 0.693, "logistic": 0.689},
    )
    bundle.members.update({"lstm": object(), "logistic": object()})  # names only
    assert bundle.best_member == "logistic"
    unscored = RuntimeBundle(**{**bundle.__dict__, "member_scores": {}})
    assert unscored.best_member == "lstm"  # the largest weight without recorded scores


def test_load_runtime_bundle_refuses_a_folder_without_metadata(tmp_path):
    with pytest.raises(ModelLoadError, match="missing or corrupt"):
        load_runtime_bundle(tmp_path)
