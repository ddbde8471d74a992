"""The Keras sequence base (scaler, early stopping, save/load checks) and the family graphs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlpkg.errors import ConfigError, ModelLoadError
from mlpkg.models import (
    LSTMDirectionClassifier,
    build_cnn,
    build_gru,
    build_transformer,
)
from mlpkg.models.windows import split_targets, windows_at

from .conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_fit_records_history_stopping_point_and_train_rows(fitted_cache):
    model, _ = fitted_cache.get("lstm")
    _, y = fitted_cache.data
    split = split_targets(y.to_numpy(), 4, model.validation_fraction, model.purge)

    assert set(model.history_) == {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert len(model.history_["loss"]) == model.stopped_epoch_ <= model.epochs
    assert model.stopping_point_ == model.best_epoch_
    assert model.stopping_point_ == int(np.argmin(model.history_["val_loss"])) + 1
    assert model.train_rows_ == split.train_rows
    # 240 rows, 4 + 5 NaN labels: 231 labelled, 227 with a full window; tail 46; purge 2
    assert len(split.validation) == 46 and split.validation[0] == 189
    assert model.train_rows_ == 187


def test_scaler_is_fitted_on_training_rows_only(fitted_cache):
    model, _ = fitted_cache.get("lstm")
    X, y = fitted_cache.data
    rows = model.train_rows_
    np.testing.assert_allclose(model.scaler_.mean_, X.iloc[:rows].mean().to_numpy())
    np.testing.assert_allclose(model.scaler_.scale_, X.iloc[:rows].std(ddof=0).to_numpy())

    wild = X.copy()
    wild.iloc[rows:] = wild.iloc[rows:] * 1000.0 + 500.0  # validation rows and the tail
    refit = LSTMDirectionClassifier(**{**TINY, "epochs": 1}).fit(wild, y)

    np.testing.assert_array_equal(refit.scaler_.mean_, model.scaler_.mean_)
    np.testing.assert_array_equal(refit.scaler_.scale_, model.scaler_.scale_)


def test_early_stopping_fires_and_restores_the_best_weights(fitted_cache):
    X, y = fitted_cache.data
    params = {**TINY, "epochs": 50, "patience": 1, "learning_rate": 0.05, "dropout": 0.0}
    model = LSTMDirectionClassifier(**params).fit(X, y)
    val_loss = model.history_["val_loss"]

    assert model.stopped_epoch_ < 50
    assert model.stopping_point_ == int(np.argmin(val_loss)) + 1
    assert model.stopped_epoch_ == model.stopping_point_ + 1  # patience 1: one epoch without gain

    split = split_targets(y.to_numpy(), 4, model.validation_fraction, model.purge)
    windows = windows_at(model.scaler_.transform(X.to_numpy()), split.validation, 5)
    loss = model.model_.evaluate(windows, y.to_numpy()[split.validation], verbose=0)[0]
    assert loss == pytest.approx(min(val_loss), rel=1e-4)


def test_fit_creates_no_variable_inside_the_traced_train_step(fitted_cache):
    # A variable first created while TensorFlow traces the step (Adam's slots, the accuracy's
    # counters) makes it trace the step again: twice the tracing, most of a small fit's CPU.
    import tensorflow as tf

    X, y = fitted_cache.data
    created_in_trace: list[str] = []

    def creator(next_creator, **kwargs):
        if tf.inside_function():
            created_in_trace.append(kwargs.get("name") or "?")
        return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
        model = LSTMDirectionClassifier(**{**TINY, "epochs": 1}).fit(X, y)

    assert created_in_trace == []
    assert set(model.history_) == {"loss", "val_loss", "accuracy", "val_accuracy"}


def test_fit_with_too_few_rows_raises_config_error(frame_factory):
    X, y = frame_factory(n_rows=8)
    with pytest.raises(ConfigError, match="Too few rows"):
        LSTMDirectionClassifier(**TINY).fit(X, y)


def test_save_writes_the_keras_model_and_one_json_record(fitted_cache, tmp_path):
    model, _ = fitted_cache.get("lstm")
    X, _ = fitted_cache.data
    model.save(tmp_path / "model")
    record = json.loads((tmp_path / "model" / "estimator.json").read_text())

    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "estimator.json",
        "model.keras",
    ]
    assert record["family"] == "lstm" and record["params"]["window"] == 5
    assert record["feature_names"] == list(X.columns)
    assert set(record["state"]) == {
        "scaler",
        "train_rows",
        "stopping_point",
        "stopped_epoch",
        "history",
    }
    assert {"keras", "numpy", "mlpkg", "scikit-learn"} <= set(record["versions"])
    loaded = LSTMDirectionClassifier.load(tmp_path / "model")
    assert loaded.history_ == model.history_ and loaded.best_epoch_ == model.best_epoch_


_RECORD_EDITS = {
    "feature_count": lambda r: r.update(feature_names=r["feature_names"][:-1]),
    "window": lambda r: r["params"].update(window=9),
    "unknown_param": lambda r: r["params"].update(cells=3),
    "missing_state": lambda r: r["state"].pop("scaler"),
    "format": lambda r: r.update(format_version=1),
}


def _corrupt(directory, how):
    record_file = directory / "estimator.json"
    if how in _RECORD_EDITS:
        record = json.loads(record_file.read_text())
        _RECORD_EDITS[how](record)
        record_file.write_text(json.dumps(record))
    elif how == "garbage_model":
        (directory / "model.keras").write_bytes(b"not a zip")
    elif how == "missing_model":
        (directory / "model.keras").unlink()
    elif how == "missing_record":
        record_file.unlink()
    elif how == "bad_json":
        record_file.write_text("{broken")


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("garbage_model", "Cannot load the Keras model"),
        ("missing_model", "Cannot load the Keras model"),
        ("missing_record", "missing or corrupt"),
        ("bad_json", "missing or corrupt"),
        ("feature_count", r"scaler has 4 means .* 3 features"),
        ("window", r"maps \(None, 5, 4\) .* \(None, 9, 4\)"),
        ("unknown_param", "does not take"),
        ("missing_state", "corrupt or inconsistent"),
        ("format", "format version 1"),
    ],
)
def test_load_of_a_corrupt_directory_raises_model_load_error(fitted_cache, tmp_path, how, message):
    model, _ = fitted_cache.get("lstm")
    directory = tmp_path / "model"
    model.save(directory)
    _corrupt(directory, how)

    with pytest.raises(ModelLoadError, match=message):
        LSTMDirectionClassifier.load(directory)


def test_gru_graph_stacks_gru_cells_like_the_lstm():
    import keras

    model = build_gru(5, 3, units=4, layers=2, dropout=0.2, dense_units=3)
    grus = [layer for layer in model.layers if isinstance(layer, keras.layers.GRU)]

    assert [g.return_sequences for g in grus] == [True, False]
    assert all(g.units == 4 and g.recurrent_dropout == 0.0 for g in grus)
    assert not any(isinstance(layer, keras.layers.LSTM) for layer in model.layers)
    assert (model.input_shape, model.output_shape) == ((None, 5, 3), (None, 1))


def test_cnn_graph_is_causal_with_doubling_dilations():
    import keras

    model = build_cnn(8, 3, filters=4, kernel_size=2, layers=3, dense_units=3)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]

    assert [c.dilation_rate for c in convs] == [(1,), (2,), (4,)]
    assert all(c.padding == "causal" and c.filters == 4 for c in convs)
    assert (model.input_shape, model.output_shape) == ((None, 8, 3), (None, 1))
    # causal: changing the last timestep leaves every earlier conv output unchanged
    probe = keras.Model(model.input, convs[-1].output)
    x = np.random.default_rng(0).normal(size=(2, 8, 3)).astype("float32")
    changed = x.copy()
    changed[:, -1] += 5.0
    np.testing.assert_allclose(probe(x)[:, :-1], probe(changed)[:, :-1], atol=1e-6)


def test_transformer_graph_is_a_self_attention_encoder_with_learned_positions():
    import keras

    from mlpkg.models.keras_layers import PositionalEmbedding

    model = build_transformer(6, 3, d_model=8, heads=2, layers=2, ff_units=16, dense_units=4)
    kinds = [type(layer) for layer in model.layers]
    attention = [
        layer for layer in model.layers if isinstance(layer, keras.layers.MultiHeadAttention)
    ]

    assert len(attention) == 2
    assert all(a.num_heads == 2 and a.key_dim == 4 for a in attention)
    assert kinds.count(keras.layers.LayerNormalization) == 4
    assert keras.layers.LSTM not in kinds and keras.layers.GRU not in kinds
    positions = model.get_layer("positions")
    assert isinstance(positions, PositionalEmbedding)
    assert positions.positions.shape == (6, 8)
    assert len(model.inputs) == 1  # positions are a weight, not a second (ONNX) input
    assert (model.input_shape, model.output_shape) == ((None, 6, 3), (None, 1))


def test_transformer_with_more_heads_than_d_model_is_a_config_error():
    with pytest.raises(ConfigError, match="heads"):
        build_transformer(6, 3, d_model=4, heads=8)
