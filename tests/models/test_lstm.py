from __future__ import annotations

import numpy as np
from support import loaded_by

from mlpkg.models.lstm import build_lstm


def test_build_lstm_has_the_seed_architecture_without_recurrent_dropout():
    import keras

    model = build_lstm(5, 3, units=4, layers=2, dropout=0.2, dense_units=3)

    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert [layer.return_sequences for layer in lstms] == [True, False]
    assert all(layer.units == 4 and layer.recurrent_dropout == 0.0 for layer in lstms)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [d.rate for d in dropouts] == [0.2, 0.2, 0.2]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [(d.units, d.activation.__name__) for d in dense] == [(3, "relu"), (1, "sigmoid")]
    assert model.input_shape == (None, 5, 3)
    assert model.output_shape == (None, 1)
    # 4*(4*(3+4)+4) + 4*(4*(4+4)+4) + (4*3+3) + (3+1)
    assert model.count_params() == 128 + 144 + 15 + 4
    assert model.loss == "binary_crossentropy"


def test_build_lstm_single_layer_returns_last_output_only():
    model = build_lstm(6, 2, units=3, layers=1, dense_units=2)

    assert model.get_layer("lstm_0").return_sequences is False
    assert model.output_shape == (None, 1)


def test_build_lstm_same_seed_gives_same_initial_weights():
    first = build_lstm(5, 3, units=4, seed=11).get_weights()
    second = build_lstm(5, 3, units=4, seed=11).get_weights()
    other = build_lstm(5, 3, units=4, seed=12).get_weights()

    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_importing_mlpkg_models_does_not_import_tensorflow_or_lightgbm():
    assert loaded_by("mlpkg.models", ("tensorflow", "keras", "lightgbm")) == []
