"""Custom Keras layers of the mlpkg graphs, registered for ``keras.saving.load_model``.

This module imports Keras at the top: only the graph builders and ``load_keras`` import it.
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="mlpkg")
class PositionalEmbedding(keras.layers.Layer):  # type: ignore[misc]
    """Adds a learned embedding of each timestep's position to a ``(batch, length, d)`` input.

    The positions are one weight of shape ``(length, d)``, not a tensor built from
    ``keras.ops.arange`` in the graph: the latter exports to ONNX as an extra required input.

    Args:
        length: Timesteps per window.
        seed: Seed of the initialiser (normal, stddev 0.02).
    """

    def __init__(self, length: int, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.length = length
        self.seed = seed

    def build(self, input_shape: tuple[Any, ...]) -> None:
        """Create the ``(length, d)`` position weight."""
        self.positions = self.add_weight(
            shape=(self.length, int(input_shape[-1])),
            initializer=keras.initializers.RandomNormal(stddev=0.02, seed=self.seed),
            name="positions",
        )

    def call(self, inputs: Any) -> Any:
        """Return ``inputs + positions`` (broadcast over the batch)."""
        return inputs + self.positions

    def get_config(self) -> dict[str, Any]:
        """Return the layer's constructor arguments (for saving)."""
        config: dict[str, Any] = super().get_config()
        config.update(length=self.length, seed=self.seed)
        return config
