"""The CNN family: a stack of causal, dilated 1-D convolutions over the window.

Keras is imported inside the functions, so ``import mlpkg.models`` does not load TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from mlpkg.models.neural import (
    KerasSequenceClassifier,
    classifier_head,
    last_and_mean,
    sequence_input,
)


# The keyword defaults equal the estimator's (the graph is also built alone, e.g. in tests).
def build_cnn(
    window: int,
    n_features: int,
    *,
    filters: int = 32,
    kernel_size: int = 3,
    layers: int = 3,
    dropout: float = 0.2,
    dense_units: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 42,
) -> Any:
    """Build and compile the temporal-convolution binary classifier.

    Architecture: ``layers`` x [Conv1D(filters, kernel_size, padding="causal",
    dilation 2**i, relu) -> Dropout(dropout)] (dilations 1, 2, 4, ...; causal padding, so each
    step sees only itself and earlier steps; the last step's receptive field is
    ``1 + (kernel_size - 1) * (2**layers - 1)`` rows) -> pooling: the last step's filters
    concatenated with their global average over the window -> Dense(dense_units, relu) ->
    Dropout(dropout) -> Dense(1, sigmoid).

    Args:
        window: Timesteps per input window.
        n_features: Features per timestep.
        filters: Filters per convolution.
        kernel_size: Convolution kernel size.
        layers: Convolution layers (dilation doubles at each).
        dropout: Dropout rate after each convolution and after the dense layer.
        dense_units: Width of the ReLU dense head.
        learning_rate: Adam learning rate.
        seed: Seed for weight initialisation and dropout masks (sets Keras' global seed).

    Returns:
        A compiled ``keras.Model`` mapping ``(batch, window, n_features)`` to ``(batch, 1)``.
    """
    import keras

    inputs = sequence_input(window, n_features, seed)
    x = inputs
    for layer in range(layers):
        x = keras.layers.Conv1D(
            filters,
            kernel_size,
            padding="causal",
            dilation_rate=2**layer,
            activation="relu",
            name=f"conv_{layer}",
        )(x)
        x = keras.layers.Dropout(dropout, seed=seed + layer, name=f"dropout_{layer}")(x)
    return classifier_head(
        inputs,
        last_and_mean(x, window),
        name="cnn_direction",
        dense_units=dense_units,
        dropout=dropout,
        learning_rate=learning_rate,
        seed=seed + layers,
    )


class CNNDirectionClassifier(KerasSequenceClassifier):
    """Causal dilated convolutions over the window ending at row t (family ``cnn``).

    See ``build_cnn`` for the graph.

    Args:
        window: Rows per input window (the window ending at row t predicts y[t]).
        filters: Filters per convolution.
        kernel_size: Convolution kernel size.
        layers: Convolution layers (dilations 1, 2, 4, ...).
        dropout: Dropout rate after each convolution and the dense layer.
        dense_units: Width of the ReLU dense head.
        learning_rate: Adam learning rate.
        epochs: Maximum epochs (exactly this many when ``validation_fraction`` is 0).
        batch_size: Mini-batch size.
        patience: Early-stopping patience in epochs (on validation loss).
        validation_fraction: Share of the target rows, taken from the end, used for early
            stopping; 0 disables the validation tail and early stopping.
        purge: Rows dropped between the training targets and the validation tail.
        seed: Seed for Python, NumPy and TensorFlow.
        verbose: Keras ``fit`` verbosity (0 = silent).
    """

    family: ClassVar[str] = "cnn"

    # scikit-learn reads the parameters from this explicit signature (it allows no **kwargs),
    # so the training parameters the Keras families share, and their Args in the docstring, are
    # repeated in each family (neural.RecurrentClassifier, cnn.py, transformer.py); a test
    # (tests/models/test_families.py) holds every default equal to the config's.
    def __init__(
        self,
        window: int = 60,
        filters: int = 32,
        kernel_size: int = 3,
        layers: int = 3,
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
        self._keep_params(locals())

    def _graph(self) -> Callable[..., Any]:
        return build_cnn
