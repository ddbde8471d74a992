"""The model families: their names (``Family``) and one hyperparameter section per family."""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from pydantic import Field

from mlpkg.config.base import Frozen

NeuralFamily = Literal["lstm", "gru", "cnn", "transformer"]
"""The families trained with Keras (served through ONNX Runtime)."""
Family = Literal[NeuralFamily, "lightgbm", "logistic"]
"""A model family: the one place the names are spelled, in reporting order.

``mlpkg.models.registry.FAMILY_TABLE`` has one row per name (a test keeps them equal); the HTTP
schemas, the CLI choices and the search spaces derive from it.
"""
NEURAL_FAMILIES: tuple[NeuralFamily, ...] = get_args(NeuralFamily)
"""The Keras families, in reporting order."""
FAMILIES: tuple[Family, ...] = get_args(Family)
"""Every model family, in reporting order."""


class ModelSection(Frozen):
    """A model family's hyperparameters; flattened as ``<family>_<field>`` (e.g. ``lstm_units``)."""

    family: ClassVar[str] = ""


class NeuralConfig(ModelSection):
    """Training parameters shared by the neural families (each family has its own copy)."""

    window: int = Field(default=60, ge=2, le=500, description="Timesteps per input window.")
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0, description="Dropout rate.")
    dense_units: int = Field(default=32, ge=1, le=1024, description="Dense head width.")
    learning_rate: float = Field(default=1e-3, gt=0, le=1.0, description="Adam learning rate.")
    epochs: int = Field(default=10, ge=1, le=1000, description="Maximum epochs.")
    batch_size: int = Field(default=256, ge=1, le=8192, description="Mini-batch size.")
    patience: int = Field(default=3, ge=1, le=100, description="Early-stopping patience (epochs).")
    validation_fraction: float = Field(
        default=0.15, gt=0.0, lt=0.5, description="Time-ordered tail used for early stopping."
    )


# One section per family from here on, alike by design (a declaration table: each family's own
# flattened <family>_* parameters, their bounds and their help text).
class LSTMConfig(NeuralConfig):
    """Stacked LSTM (the replaced service's v1 architecture: 2 x 50 units, window 60)."""

    family: ClassVar[str] = "lstm"
    units: int = Field(default=50, ge=1, le=1024, description="Units per LSTM layer.")
    layers: int = Field(default=2, ge=1, le=4, description="Stacked LSTM layers.")


# The same fields as LSTMConfig on purpose: the two graphs differ only in their cell
# (mlpkg.models.neural.build_recurrent), but each family keeps its own section (flattened as
# gru_*), and its descriptions name its cell (the notebooks' parameter help repeats them).
class GRUConfig(NeuralConfig):
    """Stacked GRU, the same shape as the LSTM with GRU cells."""

    family: ClassVar[str] = "gru"
    units: int = Field(default=50, ge=1, le=1024, description="Units per GRU layer.")
    layers: int = Field(default=2, ge=1, le=4, description="Stacked GRU layers.")


class CNNConfig(NeuralConfig):
    """Temporal convolution stack over the window (causal padding, dilations 1, 2, 4, ...)."""

    family: ClassVar[str] = "cnn"
    filters: int = Field(default=32, ge=1, le=1024, description="Filters per convolution.")
    kernel_size: int = Field(default=3, ge=2, le=32, description="Convolution kernel size.")
    layers: int = Field(default=3, ge=1, le=8, description="Convolution layers.")


class TransformerConfig(NeuralConfig):
    """Self-attention encoder (learned positions, multi-head attention blocks, pooling)."""

    family: ClassVar[str] = "transformer"
    d_model: int = Field(default=32, ge=4, le=512, description="Embedding width.")
    heads: int = Field(default=4, ge=1, le=16, description="Attention heads per block.")
    layers: int = Field(default=2, ge=1, le=8, description="Encoder blocks.")
    ff_units: int = Field(default=64, ge=1, le=2048, description="Feed-forward width per block.")


class LightGBMConfig(ModelSection):
    """Gradient-boosted trees on the latest feature row plus summaries of the window."""

    family: ClassVar[str] = "lightgbm"
    window: int = Field(default=24, ge=1, le=500, description="Rows summarised per prediction.")
    n_estimators: int = Field(default=500, ge=1, le=20000, description="Maximum boosting rounds.")
    num_leaves: int = Field(default=15, ge=2, le=4096, description="Leaves per tree.")
    learning_rate: float = Field(default=0.03, gt=0, le=1.0, description="Shrinkage.")
    min_child_samples: int = Field(default=200, ge=1, le=100000, description="Rows per leaf.")
    feature_fraction: float = Field(default=0.7, gt=0, le=1.0, description="Columns per tree.")
    patience: int = Field(default=50, ge=1, le=10000, description="Early-stopping rounds.")
    validation_fraction: float = Field(
        default=0.15, gt=0.0, lt=0.5, description="Time-ordered tail used for early stopping."
    )


class LogisticConfig(ModelSection):
    """L2-regularised logistic regression on standardised features (also a reference)."""

    family: ClassVar[str] = "logistic"
    c: float = Field(default=1.0, gt=0, le=1e6, description="Inverse L2 regularisation strength.")


ENSEMBLES: tuple[str, ...] = ("weighted", "stacked")
"""Combinations of families, evaluated like any family."""
CANDIDATES: tuple[str, ...] = (*FAMILIES, *ENSEMBLES)
"""Every name ``models`` accepts (``all`` selects every one)."""
