from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlpkg.config import ModelConfig
from mlpkg.errors import ConfigError, MlpkgError, ModelLoadError, NotFittedError
from mlpkg.models.estimator import (
    LSTMDirectionClassifier,
    sliding_windows,
    split_windows,
)

from .conftest import TINY

# Keras' own save path trips a NumPy 2 deprecation (tf.Variable.__array__ lacks ``copy``).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _proba(model, X):
    return model.predict_proba(X)[:, 1]


def test_fit_returns_self_and_sets_learned_state(noise_data):
    X, y = noise_data
    model = LSTMDirectionClassifier(**{**TINY, "epochs": 1})

    assert model.fit(X, y) is model
    assert list(model.feature_names_in_) == list(X.columns)
    assert model.n_features_in_ == 4
    assert set(model.history_) == {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert len(model.history_["loss"]) == model.stopped_epoch_ == 1
    assert model.best_epoch_ == 1
    # 236 windows: validation tail ceil(0.2 * 236) = 48, purge 2 -> 186 training windows,
    # which cover rows 0 .. 186 + 5 - 2.
    assert model.train_rows_ == 186 + 4


def test_predict_proba_has_one_row_per_input_row_with_nan_before_the_first_window(
    fitted_lstm, noise_data
):
    X, _ = noise_data
    proba = fitted_lstm.predict_proba(X)

    assert proba.shape == (len(X), 2)
    assert np.isnan(proba[:4]).all()
    assert not np.isnan(proba[4:]).any()
    np.testing.assert_allclose(proba.sum(axis=1)[4:], 1.0)
    assert ((proba[4:] >= 0) & (proba[4:] <= 1)).all()


def test_predict_proba_row_t_depends_only_on_the_window_ending_at_t(fitted_lstm, noise_data):
    X, _ = noise_data
    full = _proba(fitted_lstm, X)
    tail = _proba(fitted_lstm, X.iloc[100:])
    changed = X.copy()
    changed.iloc[150:] += 100.0  # rows after t must not change the score of row t

    np.testing.assert_allclose(tail[4:], full[104:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_proba(fitted_lstm, changed)[:150], full[:150], atol=1e-6)
    assert not np.allclose(_proba(fitted_lstm, changed)[150:155], full[150:155])


def test_predict_proba_of_fewer_rows_than_a_window_is_all_nan(fitted_lstm, noise_data):
    X, _ = noise_data
    assert np.isnan(fitted_lstm.predict_proba(X.iloc[:4])).all()


def test_predict_is_nan_safe_zero_one(fitted_lstm, noise_data):
    X, _ = noise_data
    pred = fitted_lstm.predict(X.iloc[:20])
    proba = _proba(fitted_lstm, X.iloc[:20])

    assert np.isnan(pred[:4]).all()
    np.testing.assert_array_equal(pred[4:], (proba[4:] > 0.5).astype(float))


def test_same_seed_gives_identical_probabilities(noise_data, fitted_lstm):
    X, y = noise_data
    again = LSTMDirectionClassifier(**TINY).fit(X, y)

    np.testing.assert_array_equal(_proba(again, X), _proba(fitted_lstm, X))
    assert again.history_ == fitted_lstm.history_


def test_scaler_is_fitted_on_training_rows_only(noise_data, fitted_lstm):
    X, y = noise_data
    rows = fitted_lstm.train_rows_
    np.testing.assert_allclose(fitted_lstm.scaler_.mean_, X.iloc[:rows].mean().to_numpy())
    np.testing.assert_allclose(fitted_lstm.scaler_.scale_, X.iloc[:rows].std(ddof=0).to_numpy())

    wild = X.copy()
    wild.iloc[rows:] = wild.iloc[rows:] * 1000.0 + 500.0
    refit = LSTMDirectionClassifier(**{**TINY, "epochs": 1}).fit(wild, y)

    np.testing.assert_array_equal(refit.scaler_.mean_, fitted_lstm.scaler_.mean_)
    np.testing.assert_array_equal(refit.scaler_.scale_, fitted_lstm.scaler_.scale_)


def test_early_stopping_fires_and_restores_the_best_weights(noise_data):
    X, y = noise_data
    params = {**TINY, "epochs": 50, "patience": 1, "learning_rate": 0.05, "dropout": 0.0}
    model = LSTMDirectionClassifier(**params).fit(X, y)
    val_loss = model.history_["val_loss"]

    assert model.stopped_epoch_ < 50
    assert model.best_epoch_ == int(np.argmin(val_loss)) + 1
    assert model.stopped_epoch_ == model.best_epoch_ + 1  # patience 1: one epoch without gain

    split = split_windows(len(X) - 4, model.validation_fraction, model.purge)
    windows = sliding_windows(model.scaler_.transform(X.to_numpy()), model.window)
    start = split.n_train + split.n_purge
    loss = model.model_.evaluate(windows[start:], y.to_numpy()[4 + start :], verbose=0)[0]
    assert loss == pytest.approx(min(val_loss), rel=1e-4)


def test_save_load_round_trip_gives_identical_probabilities(fitted_lstm, noise_data, tmp_path):
    X, _ = noise_data
    fitted_lstm.save(tmp_path / "model")
    loaded = LSTMDirectionClassifier.load(tmp_path / "model")

    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "meta.json", "model.keras", "params.json", "scaler.json"
    ]  # fmt: skip
    np.testing.assert_array_equal(_proba(loaded, X), _proba(fitted_lstm, X))
    assert loaded.get_params() == fitted_lstm.get_params()
    assert list(loaded.feature_names_in_) == list(fitted_lstm.feature_names_in_)
    assert loaded.history_ == fitted_lstm.history_
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["window"] == 5 and meta["feature_names"] == list(X.columns)
    assert {"keras", "numpy", "mlpkg"} <= set(meta["versions"])


def _corrupt(directory, how):
    if how == "missing_dir":
        directory.rename(directory.with_name("gone"))
    elif how == "garbage_model":
        (directory / "model.keras").write_bytes(b"not a zip")
    elif how == "missing_scaler":
        (directory / "scaler.json").unlink()
    elif how == "bad_json":
        (directory / "params.json").write_text("{broken")
    elif how == "feature_count":
        meta = json.loads((directory / "meta.json").read_text())
        meta["feature_names"] = meta["feature_names"][:-1]
        (directory / "meta.json").write_text(json.dumps(meta))
    elif how == "window":
        params = json.loads((directory / "params.json").read_text())
        params["window"] = 9
        (directory / "params.json").write_text(json.dumps(params))


@pytest.mark.parametrize(
    "how", ["missing_dir", "garbage_model", "missing_scaler", "bad_json", "feature_count", "window"]
)
def test_load_of_a_corrupt_directory_raises_model_load_error(fitted_lstm, tmp_path, how):
    directory = tmp_path / "model"
    fitted_lstm.save(directory)
    _corrupt(directory, how)

    with pytest.raises(ModelLoadError, match=r"model|meta|scaler|params|inputs"):
        LSTMDirectionClassifier.load(directory)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X: X.drop(columns="f2"), r"missing \['f2'\]"),
        (lambda X: X.assign(extra=1.0), r"unexpected \['extra'\]"),
        (lambda X: X[["f1", "f0", "f2", "f3"]], "different order"),
    ],
)
def test_predict_proba_rejects_wrong_columns_naming_them(fitted_lstm, noise_data, change, message):
    X, _ = noise_data
    with pytest.raises(ModelLoadError, match=message):
        fitted_lstm.predict_proba(change(X))


def test_predict_proba_rejects_nan_features(fitted_lstm, noise_data):
    X, _ = noise_data
    bad = X.copy()
    bad.iloc[10, 1] = math.nan

    with pytest.raises(MlpkgError, match=r"NaN.*f1"):
        fitted_lstm.predict_proba(bad)


def test_using_an_unfitted_model_raises_not_fitted(noise_data, tmp_path):
    X, _ = noise_data
    model = LSTMDirectionClassifier(**TINY)

    with pytest.raises(NotFittedError):
        model.predict_proba(X)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")


@pytest.mark.parametrize(
    "labels",
    [
        lambda y: y.iloc[:-1],
        lambda y: y.set_axis(y.index + pd.Timedelta("1h")),
        lambda y: y.where(y.index != y.index[3]),
        lambda y: y * 2,
    ],
)
def test_fit_rejects_misaligned_nan_or_non_binary_labels(noise_data, labels):
    X, y = noise_data
    with pytest.raises(MlpkgError, match="Labels"):
        LSTMDirectionClassifier(**TINY).fit(X, labels(y))


def test_fit_with_too_few_rows_raises_config_error(frame_factory):
    X, y = frame_factory(n_rows=8)
    with pytest.raises(ConfigError, match="Too few rows"):
        LSTMDirectionClassifier(**TINY).fit(X, y)


def test_from_config_copies_model_config_seed_and_purge():
    config = ModelConfig(window=12, units=8, epochs=3, patience=2)
    model = LSTMDirectionClassifier.from_config(config, seed=5, purge=7)

    params = model.get_params()
    assert {k: params[k] for k in config.model_dump()} == config.model_dump()
    assert (params["seed"], params["purge"], params["verbose"]) == (5, 7, 0)
    assert model.context_rows == 11
    assert LSTMDirectionClassifier(**params).get_params() == params


def test_set_params_rejects_unknown_names():
    model = LSTMDirectionClassifier().set_params(units=9)
    assert model.units == 9
    with pytest.raises(ConfigError, match="unknown_param"):
        model.set_params(unknown_param=1)


def test_sliding_windows_end_at_each_row():
    values = np.arange(12, dtype=float).reshape(6, 2)
    windows = sliding_windows(values, 3)

    assert windows.shape == (4, 3, 2)
    np.testing.assert_array_equal(windows[0], values[0:3])
    np.testing.assert_array_equal(windows[-1], values[3:6])
