"""The shared base of the Keras sequence families (lstm, gru, cnn, transformer).

``KerasSequenceClassifier`` is a scikit-learn estimator; each family subclasses it with its own
``__init__`` parameters (those of its config section plus ``purge``, ``seed`` and ``verbose``)
and a ``_build`` method returning its compiled Keras graph (``lstm`` and ``gru`` share theirs,
``RecurrentClassifier``, and differ only in the cell). What it does for every family:

* real sliding windows over time-ordered rows: the window of ``window`` rows ending at row t
  is labelled y[t]; rows with a NaN label are context only, never targets;
* a chronological validation tail (the last ``validation_fraction`` of the target rows),
  separated from the training targets by ``purge`` rows, for early stopping on ``val_loss``
  with the best weights restored; ``validation_fraction=0`` trains exactly ``epochs`` epochs on
  every target row (the final refit with the epoch count chosen on development folds);
* a StandardScaler fitted on the training rows only; fixed seeds (``keras.utils.set_random_seed``);
* save/load to a directory (``model.keras`` + ``estimator.json``, no pickle), validated on load.

Keras is imported inside the methods, so importing this module does not load TensorFlow.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from mlpkg.errors import ModelLoadError
from mlpkg.models.artifacts import (
    corrupt,
    read_record,
    restore,
    scaler_from_json,
    scaler_to_json,
    write_record,
)
from mlpkg.models.estimator import DirectionClassifier, windowed_fit_inputs
from mlpkg.models.windows import TargetSplit, windows_at

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
_PREDICT_CHUNK = 4096


EPOCH_OBSERVERS: ContextVar[tuple[Callable[[], Any], ...]] = ContextVar(
    "mlpkg_epoch_observers", default=()
)
"""Factories of extra Keras callbacks for every fit in this context (e.g. the CLI's epoch
progress bar). Empty by default: models stay silent and do no I/O of their own."""


class KerasSequenceClassifier(DirectionClassifier):
    """Predicts P(close[t+h] > close[t]) from the window of feature rows ending at t.

    Subclasses define ``__init__`` (scikit-learn reads the parameters from it) and ``_build``.
    Learned state after ``fit``: ``model_`` (Keras), ``scaler_``, ``history_`` (per-epoch
    metrics), ``stopping_point_`` (best epoch, 1-based; ``epochs`` when
    ``validation_fraction`` is 0; ``best_epoch_`` is an alias), ``stopped_epoch_`` (epochs
    run), ``train_rows_`` (rows from the first up to the last training target: what the
    scaler saw), ``feature_names_in_``, ``n_features_in_``, ``classes_``.
    """

    budget_param: ClassVar[str | None] = "epochs"

    window: int
    dropout: float
    dense_units: int
    learning_rate: float
    epochs: int
    batch_size: int
    patience: int
    validation_fraction: float
    purge: int
    seed: int
    verbose: int

    @property
    def context_rows(self) -> int:
        """Rows of history needed before the first scored row: ``window - 1``."""
        return int(self.window) - 1

    def _graph(self) -> Callable[..., Any]:
        """The family's graph builder: ``build(window, n_features, *, <parameters>)``."""
        raise NotImplementedError

    def _build(self, n_features: int) -> Any:
        """Return the family's compiled Keras model for ``(batch, window, n_features)``.

        The builder's keyword-only parameters take the estimator's values of the same name.
        """
        build = self._graph()
        names = [
            name
            for name, parameter in inspect.signature(build).parameters.items()
            if parameter.kind is parameter.KEYWORD_ONLY
        ]
        return build(self.window, n_features, **{name: getattr(self, name) for name in names})

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Self:
        """Fit on contiguous, time-ordered rows.

        Args:
            X: Feature rows (no NaN), oldest first.
            y: Labels aligned with X: 0, 1, or NaN for a context-only row (y[t] labels the
                window ending at row t).

        Returns:
            self, with ``model_``, ``scaler_``, ``history_``, ``stopping_point_``, ... set.

        Raises:
            MlpkgError: on NaN features, misaligned labels or labels other than 0/1/NaN.
            ConfigError: if there are too few labelled rows for the window and validation split.
        """
        import keras
        from sklearn.preprocessing import StandardScaler

        values, target, split = windowed_fit_inputs(
            X, y, self.window, self.validation_fraction, self.purge
        )
        scaler = StandardScaler().fit(values[: split.train_rows])
        scaled = scaler.transform(values)
        keras.utils.set_random_seed(self.seed)
        model = self._build(values.shape[1])
        history = self._train(model, scaled, target, split)
        self.model_, self.scaler_ = model, scaler
        self._set_input_state(X.columns)
        self._record_fit(split.train_rows, history)
        return self

    def _train(
        self, model: Any, scaled: np.ndarray, target: np.ndarray, split: TargetSplit
    ) -> dict[str, list[float]]:
        import keras

        def data(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return windows_at(scaled, rows, self.window), target[rows].astype(np.float32)

        callbacks = [factory() for factory in EPOCH_OBSERVERS.get()]
        options: dict[str, Any] = {"callbacks": callbacks}
        if len(split.validation):
            stopper = keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=self.patience, restore_best_weights=True
            )
            options = {
                "validation_data": data(split.validation),
                "callbacks": [*callbacks, stopper],
            }
        history = model.fit(
            *data(split.train),
            epochs=self.epochs,
            batch_size=self.batch_size,
            shuffle=True,
            verbose=self.verbose,
            **options,
        )
        return {key: [float(v) for v in values] for key, values in history.history.items()}

    def _record_fit(self, train_rows: int, history: dict[str, list[float]]) -> None:
        self.train_rows_ = train_rows
        self.history_ = history
        self.stopped_epoch_ = len(history["loss"])
        val_loss = history.get("val_loss")
        self.stopping_point_ = int(np.argmin(val_loss)) + 1 if val_loss else self.stopped_epoch_
        self.best_epoch_ = self.stopping_point_
        log.debug(
            "%s fitted on %d rows: %d epochs run, stopping point %d",
            type(self).__name__,
            train_rows,
            self.stopped_epoch_,
            self.stopping_point_,
        )

    def _predict_up(self, X: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        p_up = np.full(len(values), np.nan)
        if len(values) >= self.window:
            scaled = self.scaler_.transform(values)
            ends = np.arange(self.window - 1, len(values))
            chunks = [
                np.asarray(self.model_.predict_on_batch(windows_at(scaled, part, self.window)))
                for part in np.array_split(ends, max(1, -(-len(ends) // _PREDICT_CHUNK)))
            ]
            p_up[ends] = np.concatenate(chunks).reshape(-1)
        return p_up

    def save(self, path: Path) -> None:
        """Write the fitted model to directory ``path`` (created if needed).

        Files: ``model.keras`` (Keras native format) and ``estimator.json`` (family,
        parameters, feature names, scaler, training summary, package versions). No pickle.

        Raises:
            NotFittedError: before ``fit``/``load``.
        """
        self._check_fitted()
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self.model_.save(directory / MODEL_FILE)
        state = {
            "scaler": scaler_to_json(self.scaler_),
            "train_rows": int(self.train_rows_),
            "stopping_point": int(self.stopping_point_),
            "stopped_epoch": int(self.stopped_epoch_),
            "history": self.history_,
        }
        write_record(directory, self, state)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load a model written by :meth:`save`.

        Raises:
            ModelLoadError: if a file is missing or corrupt, the directory holds another
                family, or the parts disagree on the window or the feature count.
        """
        directory = Path(path)
        record = read_record(directory, cls.family or None)
        estimator = restore(cls, record, directory)
        try:
            state = record.state
            estimator.scaler_ = scaler_from_json(state["scaler"], estimator.n_features_in_)
            estimator.train_rows_ = int(state["train_rows"])
            estimator.stopping_point_ = int(state["stopping_point"])
            estimator.stopped_epoch_ = int(state["stopped_epoch"])
            history = state["history"]
            estimator.history_ = {str(k): [float(x) for x in v] for k, v in history.items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise corrupt(directory, exc) from exc
        estimator.best_epoch_ = estimator.stopping_point_
        shape = (None, int(estimator.window), estimator.n_features_in_)
        estimator.model_ = load_keras(directory / MODEL_FILE, shape)
        return estimator


def load_keras(file: Path, input_shape: tuple[int | None, ...]) -> Any:
    """Load a ``.keras`` file (mlpkg's custom layers registered) and check its shapes.

    Raises:
        ModelLoadError: if the file is missing or corrupt, or its input shape is not
            ``input_shape`` or its output is not one probability.
    """
    import keras

    import mlpkg.models.keras_layers  # noqa: F401  (registers the custom layers)

    try:
        model = keras.saving.load_model(file, compile=False)
    except Exception as exc:  # Keras raises many types (OSError, ValueError, zipfile errors)
        raise ModelLoadError(
            f"Cannot load the Keras model {file} ({type(exc).__name__}: {exc}). The file is "
            "missing or corrupt; retrain the pair or re-download the model."
        ) from exc
    shapes = (tuple(model.input_shape), tuple(model.output_shape))
    if shapes != (input_shape, (None, 1)):
        raise ModelLoadError(
            f"Model {file} maps {shapes[0]} to {shapes[1]} but its estimator.json says "
            f"{input_shape} (batch, window, features) to (None, 1): the files come from "
            "different models; retrain it."
        )
    return model


def sequence_input(window: int, n_features: int, seed: int) -> Any:
    """Seed Keras and return the ``(window, n_features)`` input of a family graph."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Input(shape=(window, n_features), name="window")


def recurrent_stack(
    x: Any, cell: type[Any], *, units: int, layers: int, dropout: float, seed: int
) -> Any:
    """Apply ``layers`` x [cell(units) -> Dropout]; all but the last return sequences.

    Dropout sits between layers rather than inside the cell and ``recurrent_dropout`` is not
    used, so the fused (cuDNN / fast CPU) kernels stay usable.
    """
    import keras

    name = cell.__name__.lower()
    for layer in range(layers):
        last = layer == layers - 1
        x = cell(units, return_sequences=not last, name=f"{name}_{layer}")(x)
        x = keras.layers.Dropout(dropout, seed=seed + layer, name=f"dropout_{layer}")(x)
    return x


def last_and_mean(x: Any, window: int) -> Any:
    """Pool a ``(batch, window, width)`` sequence: the last step beside the window's average.

    The cnn and transformer graphs pool this way: average pooling alone dilutes the newest
    row among ``window`` rows.

    Returns:
        ``(batch, 2 * width)``: the last step's values, then their mean over the window.
    """
    import keras

    last = keras.layers.Cropping1D((window - 1, 0), name="last_step")(x)
    last = keras.layers.Flatten(name="last_step_flat")(last)
    mean = keras.layers.GlobalAveragePooling1D(name="mean_pool")(x)
    return keras.layers.Concatenate(name="pooled")([last, mean])


def classifier_head(
    inputs: Any,
    x: Any,
    *,
    name: str,
    dense_units: int,
    dropout: float,
    learning_rate: float,
    seed: int,
) -> Any:
    """Finish a family graph: Dense(relu) -> Dropout -> Dense(1, sigmoid), compiled.

    Adam with ``learning_rate``, binary cross-entropy, accuracy.

    Returns:
        A compiled ``keras.Model`` from ``inputs`` to ``(batch, 1)`` P(up).
    """
    import keras

    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, seed=seed, name="dropout_dense")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="p_up")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        # The metric object, not the name "accuracy": its variables exist now.
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    # Adam's slots built now too. Variables created lazily inside the first traced train step
    # make TensorFlow trace the step a second time: a tiny fit took 1.1 to 1.9x the CPU
    # (bench/training/bench_neural_fit.py, docs/benchmarks.md).
    model.optimizer.build(model.trainable_variables)
    return model


# The keyword defaults equal the estimator's (the graph is also built alone, e.g. in tests).
def build_recurrent(
    cell: str,
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
    """Build and compile a stacked recurrent binary classifier (the lstm and gru graphs).

    Architecture: ``layers`` x [cell(units) -> Dropout(dropout)] (sequences returned by all but
    the last cell layer) -> Dense(dense_units, relu) -> Dropout(dropout) -> Dense(1, sigmoid).

    Args:
        cell: The Keras recurrent layer, ``"LSTM"`` or ``"GRU"``; the graph is named
            ``<cell>_direction`` in lower case.
        window: Timesteps per input window.
        n_features: Features per timestep.
        units: Units per recurrent layer.
        layers: Number of stacked recurrent layers (>= 1).
        dropout: Dropout rate after each recurrent layer and after the dense layer.
        dense_units: Width of the ReLU dense head.
        learning_rate: Adam learning rate.
        seed: Seed for weight initialisation and dropout masks (sets Keras' global seed).

    Returns:
        A compiled ``keras.Model`` mapping ``(batch, window, n_features)`` to ``(batch, 1)``.
    """
    import keras

    inputs = sequence_input(window, n_features, seed)
    x = recurrent_stack(
        inputs, getattr(keras.layers, cell), units=units, layers=layers, dropout=dropout, seed=seed
    )
    return classifier_head(
        inputs,
        x,
        name=f"{cell.lower()}_direction",
        dense_units=dense_units,
        dropout=dropout,
        learning_rate=learning_rate,
        seed=seed + layers,
    )


class RecurrentClassifier(KerasSequenceClassifier):
    """Stacked recurrent layers over the window ending at row t (see ``build_recurrent``).

    The base of the ``lstm`` and ``gru`` families, which differ only in their ``cell``.

    Args:
        window: Rows per input window (the window ending at row t predicts y[t]).
        units: Units per recurrent layer.
        layers: Stacked recurrent layers.
        dropout: Dropout rate after each recurrent layer and the dense layer.
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

    cell: ClassVar[str]

    # scikit-learn reads the parameters from this explicit signature (it allows no **kwargs),
    # so the training parameters the Keras families share, and their Args in the docstring, are
    # repeated in each family (neural.RecurrentClassifier, cnn.py, transformer.py); a test
    # (tests/models/test_families.py) holds every default equal to the config's.
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
        self._keep_params(locals())

    def _graph(self) -> Callable[..., Any]:
        return functools.partial(build_recurrent, self.cell)
