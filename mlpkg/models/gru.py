"""The GRU family: stacked GRU layers over the window, the same shape as the LSTM family.

Keras is imported inside the functions, so ``import mlpkg.models`` does not load TensorFlow.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mlpkg.models.neural import (
    KerasSequenceClassifier,
    classifier_head,
    recurrent_stack,
    sequence_input,
)


def build_gru(
    window: int,
    n_features: int,
    *,
    units: int = 50,
    layers: int = 2,
    dropout: float = 0.2,
    dense_units: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 42,
) -> Any:
    """Build and compile the stacked-GRU binary classifier.

    Architecture: ``layers`` x [GRU(units) -> Dropout(dropout)] (sequences returned by all but
    the last GRU) -> Dense(dense_units, relu) -> Dropout(dropout) -> Dense(1, sigmoid).

    Args:
        window: Timesteps per input window.
        n_features: Features per timestep.
        units: Units per GRU layer.
        layers: Number of stacked GRU layers (>= 1).
        dropout: Dropout rate after each GRU layer and after the dense layer.
        dense_units: Width of the ReLU dense head.
        learning_rate: Adam learning rate.
        seed: Seed for weight initialisation and dropout masks (sets Keras' global seed).

    Returns:
        A compiled ``keras.Model`` mapping ``(batch, window, n_features)`` to ``(batch, 1)``.
    """
    import keras

    inputs = sequence_input(window, n_features, seed)
    x = recurrent_stack(
        inputs, keras.layers.GRU, units=units, layers=layers, dropout=dropout, seed=seed
    )
    return classifier_head(
        inputs,
        x,
        name="gru_direction",
        dense_units=dense_units,
        dropout=dropout,
        learning_rate=learning_rate,
        seed=seed + layers,
    )


class GRUDirectionClassifier(KerasSequenceClassifier):
    """Stacked GRU over the window ending at row t (family ``gru``; see ``build_gru``).

    Args:
        window: Rows per input window (the window ending at row t predicts y[t]).
        units: Units per GRU layer.
        layers: Stacked GRU layers.
        dropout: Dropout rate after each GRU layer and the dense layer.
        dense_units: Width of the ReLU dense head.
        learning_rate: Adam learning rate.
        epochs: Maximum epochs (exactly this many when ``validation_fraction`` is 0).
        batch_size: Mini-batch size.
        patience: Early-stopping patience in epochs (on validation loss).
        validation_fraction: Share of the target rows, taken from the end, used for early
            stopping; 0 disables the validation tail and early stopping.
        purge: Rows dropped between the training targets and the validation tail (use at least
            the label horizon so training labels never see validation-period prices).
        seed: Seed for Python, NumPy and TensorFlow (initialisation, dropout, shuffling).
        verbose: Keras ``fit`` verbosity (0 = silent).
    """

    family: ClassVar[str] = "gru"

    def __init__(
        self,
        window: int = 60,
        units: int = 50,
        layers: int = 2,
        dropout: float = 0.2,
        dense_units: int = 32,
        learning_rate: float = 1e-3,
        epochs: int = 10,
        batch_size: int = 256,
        patience: int = 3,
        validation_fraction: float = 0.15,
        purge: int = 0,
        seed: int = 42,
        verbose: int = 0,
    ) -> None:
        self.window = window
        self.units = units
        self.layers = layers
        self.dropout = dropout
        self.dense_units = dense_units
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.purge = purge
        self.seed = seed
        self.verbose = verbose

    def _build(self, n_features: int) -> Any:
        return build_gru(
            self.window,
            n_features,
            units=self.units,
            layers=self.layers,
            dropout=self.dropout,
            dense_units=self.dense_units,
            learning_rate=self.learning_rate,
            seed=self.seed,
        )
