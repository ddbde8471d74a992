"""The LSTM family: stacked LSTM layers over the window (the replaced service's v1 model).

The graph and the estimator are ``mlpkg.models.neural``'s recurrent ones with LSTM cells (the
GRU family shares them). Keras is imported inside the functions, so ``import mlpkg.models``
does not load TensorFlow.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mlpkg.models.neural import RecurrentClassifier, build_recurrent

# mlpkg/models/gru.py mirrors this module line for line on purpose: each family is its own
# module (its builder and its estimator class), and the two differ only in the Keras cell.


def build_lstm(window: int, n_features: int, **params: Any) -> Any:
    """Build and compile the stacked-LSTM binary classifier.

    Args:
        window: Timesteps per input window.
        n_features: Features per timestep.
        **params: ``units``, ``layers``, ``dropout``, ``dense_units``, ``learning_rate``,
            ``seed`` (see ``mlpkg.models.neural.build_recurrent``).

    Returns:
        A compiled ``keras.Model`` named ``lstm_direction``.
    """
    return build_recurrent("LSTM", window, n_features, **params)


class LSTMDirectionClassifier(RecurrentClassifier):
    """Stacked LSTM over the window ending at row t (family ``lstm``; see ``build_lstm``).

    Parameters and learned state are those of ``mlpkg.models.neural.RecurrentClassifier``.
    """

    family: ClassVar[str] = "lstm"
    cell: ClassVar[str] = "LSTM"
