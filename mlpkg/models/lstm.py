"""The Keras graph of the direction classifier (seed-service v1 architecture, no recurrent dropout).

Keras is imported inside the function, so ``import mlpkg.models`` does not load TensorFlow.
"""

from __future__ import annotations

from typing import Any


def build_lstm(
    window: int,
    n_features: int,
    *,
    units: int = 50,
    lstm_layers: int = 2,
    dropout: float = 0.2,
    dense_units: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 42,
) -> Any:
    """Build and compile the stacked-LSTM binary classifier.

    Architecture: ``lstm_layers`` x [LSTM(units) -> Dropout(dropout)] (sequences returned by all
    but the last LSTM) -> Dense(dense_units, relu) -> Dropout(dropout) -> Dense(1, sigmoid).
    Adam, binary cross-entropy, accuracy. Dropout sits between layers rather than inside the
    cell, and ``recurrent_dropout`` is not used, so the fused (cuDNN / fast) kernel stays usable.

    Args:
        window: Timesteps per input window.
        n_features: Features per timestep.
        units: Units per LSTM layer.
        lstm_layers: Number of stacked LSTM layers (>= 1).
        dropout: Dropout rate after each LSTM layer and after the dense layer.
        dense_units: Width of the ReLU dense head.
        learning_rate: Adam learning rate.
        seed: Seed for weight initialisation and dropout masks (sets Keras' global seed).

    Returns:
        A compiled ``keras.Model`` mapping ``(batch, window, n_features)`` to ``(batch, 1)``.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(window, n_features), name="window")
    x = inputs
    for layer in range(lstm_layers):
        last = layer == lstm_layers - 1
        x = keras.layers.LSTM(units, return_sequences=not last, name=f"lstm_{layer}")(x)
        x = keras.layers.Dropout(dropout, seed=seed + layer, name=f"dropout_{layer}")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, seed=seed + lstm_layers, name="dropout_dense")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="p_up")(x)
    model = keras.Model(inputs, outputs, name="lstm_direction")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model
