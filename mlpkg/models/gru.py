"""The GRU family: stacked GRU layers over the window, the same shape as the LSTM family.

The graph and the estimator are ``mlpkg.models.neural``'s recurrent ones with GRU cells.
Keras is imported inside the functions, so ``import mlpkg.models`` does not load TensorFlow.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mlpkg.models.neural import RecurrentClassifier, build_recurrent

# Mirrors mlpkg/models/lstm.py line for line on purpose: each family is its own module (its
# builder and its estimator class), and the two differ only in the Keras cell they name.


def build_gru(window: int, n_features: int, **params: Any) -> Any:
    """Build and compile the stacked-GRU binary classifier.

    Args:
        window: Timesteps per input window.
        n_features: Features per timestep.
        **params: ``units``, ``layers``, ``dropout``, ``dense_units``, ``learning_rate``,
            ``seed`` (see ``mlpkg.models.neural.build_recurrent``).

    Returns:
        A compiled ``keras.Model`` named ``gru_direction``.
    """
    return build_recurrent("GRU", window, n_features, **params)


class GRUDirectionClassifier(RecurrentClassifier):
    """Stacked GRU over the window ending at row t (family ``gru``; see ``build_gru``).

    Parameters and learned state are those of ``mlpkg.models.neural.RecurrentClassifier``.
    """

    family: ClassVar[str] = "gru"
    cell: ClassVar[str] = "GRU"
