"""``LSTMDirectionClassifier``: a scikit-learn-style estimator around the Keras LSTM.

It fixes the seed service's defects (seed-behaviour.md §2.5-2.8): real sliding windows over
time-ordered rows (the window ending at row t is labelled y[t]); a chronological validation tail
separated from the training windows by ``purge`` windows; a scaler fitted on the training rows
only; early stopping on ``val_loss`` that really stops and restores the best weights; fixed seeds.

Only :meth:`LSTMDirectionClassifier.save` and :meth:`LSTMDirectionClassifier.load` touch files
(a directory of ``model.keras`` + JSON files, no pickle). Keras is imported lazily.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mlpkg.config import ModelConfig
from mlpkg.errors import ConfigError, MlpkgError, ModelLoadError, NotFittedError

if TYPE_CHECKING:
    from sklearn.preprocessing import StandardScaler

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
SCALER_FILE = "scaler.json"
PARAMS_FILE = "params.json"
META_FILE = "meta.json"
_PREDICT_CHUNK = 4096


@runtime_checkable
class DirectionEstimator(Protocol):
    """What the walk-forward harness needs from a model (the LSTM and every baseline)."""

    @property
    def context_rows(self) -> int:
        """Rows of history needed before the first row the model can score."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> DirectionEstimator:
        """Fit on contiguous time-ordered rows; return self."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return ``(len(X), 2)`` probabilities (column 1 = P(up)), NaN rows without history."""


def validate_features(X: pd.DataFrame, expected: Sequence[str] | None = None) -> np.ndarray:
    """Check a feature frame and return its values as float64.

    Args:
        X: Time-ordered feature rows.
        expected: Column names the model was fitted on (same order), or None at fit time.

    Raises:
        ModelLoadError: if the columns differ from ``expected`` (names the missing/extra ones).
        MlpkgError: if X is not a DataFrame, is not numeric or holds NaN/inf values.
    """
    if not isinstance(X, pd.DataFrame):
        raise MlpkgError(f"Features must be a pandas DataFrame, got {type(X).__name__}.")
    columns = [str(c) for c in X.columns]
    if expected is not None and columns != list(expected):
        raise ModelLoadError(_column_mismatch(columns, list(expected)))
    try:
        values = X.to_numpy(dtype="float64")
    except (TypeError, ValueError) as exc:
        raise MlpkgError(f"Features must be numeric: {exc}.") from exc
    bad = ~np.isfinite(values)
    if bad.any():
        names = [columns[i] for i in np.flatnonzero(bad.any(axis=0))][:10]
        raise MlpkgError(
            f"Features hold {int(bad.sum())} NaN/inf values (columns {names}). Drop the warm-up "
            "rows (and rows with missing candles) before fitting or predicting."
        )
    return np.asarray(values, dtype=np.float64)


def _column_mismatch(columns: list[str], expected: list[str]) -> str:
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    if not missing and not extra:
        return (
            f"Feature columns are in a different order than at fit time; expected {expected}. "
            "Reorder them with X[model.feature_names_in_]."
        )
    return (
        f"Feature columns do not match the model: missing {missing}, unexpected {extra}. "
        "Build features with the FeatureConfig the model was trained with, or retrain it."
    )


def validate_target(y: pd.Series, X: pd.DataFrame) -> np.ndarray:
    """Check that labels are 0/1 with no NaN and aligned with X; return them as float64.

    Raises:
        MlpkgError: if y is misaligned with X or holds values other than 0 and 1.
    """
    if not isinstance(y, pd.Series) or len(y) != len(X) or not y.index.equals(X.index):
        raise MlpkgError(
            "Labels must be a pandas Series with the same index as the features "
            f"({len(X)} rows); align them with y.loc[X.index]."
        )
    values = y.to_numpy(dtype="float64", na_value=np.nan)
    if not np.isin(values, (0.0, 1.0)).all():
        raise MlpkgError(
            "Labels must be 0/1 with no NaN; drop the last `horizon` rows, whose future is unknown."
        )
    return np.asarray(values, dtype=np.float64)


def sliding_windows(values: np.ndarray, window: int) -> np.ndarray:
    """Return float32 windows ``(len(values) - window + 1, window, n_features)``.

    Window i covers rows ``i .. i + window - 1``, i.e. it ends at row ``i + window - 1``.
    """
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)
    return np.ascontiguousarray(view.transpose(0, 2, 1), dtype=np.float32)


@dataclass(frozen=True)
class WindowSplit:
    """How ``n_windows`` sliding windows are split: train, purged gap, validation tail."""

    n_train: int
    n_purge: int
    n_val: int


def split_windows(n_windows: int, validation_fraction: float, purge: int) -> WindowSplit:
    """Split windows chronologically into training windows and a validation tail.

    Raises:
        ConfigError: if fewer than 2 training windows remain.
    """
    n_val = max(1, math.ceil(validation_fraction * n_windows))
    n_train = n_windows - n_val - purge
    if n_train < 2:
        raise ConfigError(
            f"Too few rows to fit: {n_windows} windows leave {n_train} for training after a "
            f"validation tail of {n_val} and a purge of {purge}. Provide more rows or lower "
            "window / validation_fraction."
        )
    return WindowSplit(n_train=n_train, n_purge=purge, n_val=n_val)


def _package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in ("mlpkg", "keras", "tensorflow-cpu", "numpy", "scikit-learn"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


class LSTMDirectionClassifier:
    """Predicts P(close[t+h] > close[t]) from the window of feature rows ending at t.

    Args:
        window: Rows per input window (the window ending at row t predicts y[t]).
        units: Units per LSTM layer.
        lstm_layers: Stacked LSTM layers.
        dropout: Dropout rate after each LSTM layer and the dense layer.
        dense_units: Width of the ReLU dense head.
        learning_rate: Adam learning rate.
        epochs: Maximum epochs.
        batch_size: Mini-batch size.
        patience: Early-stopping patience in epochs (on validation loss).
        validation_fraction: Share of windows, taken from the end, used for early stopping.
        purge: Windows dropped between the training windows and the validation tail (use at
            least the label horizon so training labels never see validation-period prices).
        seed: Seed for Python, NumPy and TensorFlow (initialisation, dropout, shuffling).
        verbose: Keras ``fit`` verbosity (0 = silent).
    """

    def __init__(
        self,
        window: int = 60,
        units: int = 50,
        lstm_layers: int = 2,
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
        self.lstm_layers = lstm_layers
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

    _PARAM_NAMES = (
        "window", "units", "lstm_layers", "dropout", "dense_units", "learning_rate", "epochs",
        "batch_size", "patience", "validation_fraction", "purge", "seed", "verbose",
    )  # fmt: skip

    @classmethod
    def from_config(cls, model: ModelConfig, *, seed: int, purge: int) -> LSTMDirectionClassifier:
        """Build an unfitted classifier from a ``ModelConfig`` plus the run's seed and purge."""
        return cls(**model.model_dump(), seed=seed, purge=purge)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters (scikit-learn contract)."""
        return {name: getattr(self, name) for name in self._PARAM_NAMES}

    def set_params(self, **params: Any) -> LSTMDirectionClassifier:
        """Set constructor parameters (scikit-learn contract); return self."""
        for name, value in params.items():
            if name not in self._PARAM_NAMES:
                raise ConfigError(f"Unknown parameter {name!r}; valid: {self._PARAM_NAMES}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def context_rows(self) -> int:
        """Rows of history needed before the first scored row: ``window - 1``."""
        return int(self.window) - 1

    def fit(self, X: pd.DataFrame, y: pd.Series) -> LSTMDirectionClassifier:
        """Fit on contiguous, time-ordered rows.

        Args:
            X: Feature rows (no NaN), oldest first.
            y: 0/1 labels aligned with X (y[t] labels the window ending at row t).

        Returns:
            self, with ``scaler_``, ``model_``, ``history_``, ``best_epoch_``, ... set.

        Raises:
            MlpkgError: on NaN features, misaligned or non-binary labels.
            ConfigError: if there are too few rows for the window and validation split.
        """
        import keras
        from sklearn.preprocessing import StandardScaler

        values = validate_features(X)
        target = validate_target(y, X)
        n_windows = len(values) - self.window + 1
        split = split_windows(max(n_windows, 0), self.validation_fraction, self.purge)
        self.train_rows_ = split.n_train + self.window - 1
        self.scaler_ = StandardScaler().fit(values[: self.train_rows_])
        windows = sliding_windows(self.scaler_.transform(values), self.window)
        labels = target[self.window - 1 :].astype(np.float32)
        val_start = split.n_train + split.n_purge
        keras.utils.set_random_seed(self.seed)
        self.model_ = self._build(values.shape[1])
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=self.patience, restore_best_weights=True
        )
        history = self.model_.fit(
            windows[: split.n_train],
            labels[: split.n_train],
            validation_data=(windows[val_start:], labels[val_start:]),
            epochs=self.epochs,
            batch_size=self.batch_size,
            shuffle=True,
            callbacks=[stopper],
            verbose=self.verbose,
        )
        self._set_fit_state(X, history.history)
        return self

    def _build(self, n_features: int) -> Any:
        from mlpkg.models.lstm import build_lstm

        return build_lstm(
            self.window,
            n_features,
            units=self.units,
            lstm_layers=self.lstm_layers,
            dropout=self.dropout,
            dense_units=self.dense_units,
            learning_rate=self.learning_rate,
            seed=self.seed,
        )

    def _set_fit_state(self, X: pd.DataFrame, history: dict[str, list[float]]) -> None:
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.history_ = {key: [float(v) for v in values] for key, values in history.items()}
        val_loss = self.history_["val_loss"]
        self.best_epoch_ = int(np.argmin(val_loss)) + 1
        self.stopped_epoch_ = len(val_loss)
        log.info(
            "LSTM fitted on %d rows: %d epochs run, best epoch %d (val_loss %.4f)",
            self.train_rows_, self.stopped_epoch_, self.best_epoch_, min(val_loss),
        )  # fmt: skip

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X, y) or load(path)."
            )

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return ``(len(X), 2)`` probabilities [P(down), P(up)] aligned with X's rows.

        Row t is scored from the window of rows ``t - window + 1 .. t``; the first
        ``window - 1`` rows have no full window and are NaN.

        Raises:
            NotFittedError: before ``fit``/``load``.
            ModelLoadError: if X's columns differ from ``feature_names_in_``.
            MlpkgError: if X holds NaN/inf values.
        """
        self._check_fitted()
        values = validate_features(X, list(self.feature_names_in_))
        p_up = np.full(len(values), np.nan)
        if len(values) >= self.window:
            windows = sliding_windows(self.scaler_.transform(values), self.window)
            p_up[self.window - 1 :] = self._predict_windows(windows)
        return np.column_stack([1.0 - p_up, p_up])

    def _predict_windows(self, windows: np.ndarray) -> np.ndarray:
        chunks = [
            np.asarray(self.model_.predict_on_batch(windows[i : i + _PREDICT_CHUNK]))
            for i in range(0, len(windows), _PREDICT_CHUNK)
        ]
        return np.concatenate(chunks).reshape(-1).astype(np.float64)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return 1.0 (up, P(up) > 0.5), 0.0 (down) or NaN (no full window) per row."""
        p_up = self.predict_proba(X)[:, 1]
        return np.where(np.isnan(p_up), np.nan, (p_up > 0.5).astype(np.float64))

    def save(self, path: Path) -> None:
        """Write the fitted model to directory ``path`` (created if needed).

        Files: ``model.keras`` (Keras native), ``scaler.json`` (mean/scale/feature names),
        ``params.json`` (constructor parameters), ``meta.json`` (feature names, window,
        training summary, package versions). No pickle.
        """
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model_.save(path / MODEL_FILE)
        names = [str(n) for n in self.feature_names_in_]
        scaler = {
            "mean": self.scaler_.mean_.tolist(),
            "scale": self.scaler_.scale_.tolist(),
            "var": self.scaler_.var_.tolist(),
            "n_samples_seen": int(self.scaler_.n_samples_seen_),
            "feature_names": names,
        }
        meta = {
            "format_version": FORMAT_VERSION,
            "feature_names": names,
            "window": int(self.window),
            "n_features": self.n_features_in_,
            "train_rows": int(self.train_rows_),
            "best_epoch": self.best_epoch_,
            "stopped_epoch": self.stopped_epoch_,
            "history": self.history_,
            "versions": _package_versions(),
        }
        for name, content in ((SCALER_FILE, scaler), (PARAMS_FILE, self.get_params()),
                              (META_FILE, meta)):  # fmt: skip
            (path / name).write_text(json.dumps(content, indent=2))

    @classmethod
    def load(cls, path: Path) -> LSTMDirectionClassifier:
        """Load a model written by :meth:`save`.

        Raises:
            ModelLoadError: if a file is missing or corrupt, or the parts disagree on the
                feature count.
        """
        path = Path(path)
        params, scaler, meta = (_read_json(path / n) for n in (PARAMS_FILE, SCALER_FILE, META_FILE))
        try:
            estimator = cls(**params)
            names = [str(n) for n in meta["feature_names"]]
            estimator.scaler_ = _scaler_from_json(scaler, names)
            estimator.train_rows_ = int(meta["train_rows"])
            estimator.best_epoch_ = int(meta["best_epoch"])
            estimator.stopped_epoch_ = int(meta["stopped_epoch"])
            estimator.history_ = {k: [float(x) for x in v] for k, v in meta["history"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"Model directory {path} has corrupt metadata ({exc!r}).") from exc
        estimator.feature_names_in_ = np.asarray(names, dtype=object)
        estimator.n_features_in_ = len(names)
        estimator.model_ = _load_keras(path / MODEL_FILE, estimator.window, len(names))
        return estimator


def _read_json(file: Path) -> dict[str, Any]:
    try:
        content = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"Cannot read {file} ({exc}). The model directory is missing or corrupt; "
            "retrain the pair or re-download the model."
        ) from exc
    if not isinstance(content, dict):
        raise ModelLoadError(f"{file} is corrupt: expected a JSON object.")
    return content


def _scaler_from_json(content: dict[str, Any], names: list[str]) -> StandardScaler:
    from sklearn.preprocessing import StandardScaler

    mean = np.asarray(content["mean"], dtype=np.float64)
    scale = np.asarray(content["scale"], dtype=np.float64)
    n_features = len(names)
    if not len(mean) == len(scale) == n_features or list(content["feature_names"]) != names:
        raise ValueError(
            f"scaler.json has {len(mean)} means and {len(scale)} scales and its feature names "
            f"differ from meta.json's {n_features} features"
        )
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = mean, scale
    scaler.var_ = np.asarray(content.get("var", scale**2), dtype=np.float64)
    scaler.n_features_in_ = n_features
    scaler.n_samples_seen_ = int(content.get("n_samples_seen", 0))
    return scaler


def _load_keras(file: Path, window: int, n_features: int) -> Any:
    import keras

    try:
        model = keras.saving.load_model(file, compile=False)
    except Exception as exc:  # Keras raises many types (OSError, ValueError, zipfile errors)
        raise ModelLoadError(
            f"Cannot load the Keras model {file} ({type(exc).__name__}: {exc}). The file is "
            "missing or corrupt; retrain the pair or re-download the model."
        ) from exc
    expected = (None, window, n_features)
    if tuple(model.input_shape) != expected:
        raise ModelLoadError(
            f"Model {file} expects inputs {tuple(model.input_shape)} but its metadata says "
            f"{expected} (window, features): the files come from different models."
        )
    return model
