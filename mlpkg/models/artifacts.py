"""The saved-model directory format shared by every estimator (JSON, no pickle).

Each ``save`` writes ``estimator.json``: ``family`` (what ``load_estimator`` dispatches on),
the constructor ``params``, the ``feature_names``, the learned ``state`` (small arrays as
lists) and the package ``versions``; families add their own files beside it (``model.keras``,
``booster.txt``, ``members/<name>/``). Loading validates every part and raises
``ModelLoadError`` with the file and the way out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from mlpkg.errors import ModelLoadError

if TYPE_CHECKING:
    from sklearn.preprocessing import StandardScaler

    from mlpkg.models.estimator import DirectionClassifier

RECORD_FILE = "estimator.json"
FORMAT_VERSION = 2
_VERSIONED = ("mlpkg", "numpy", "scikit-learn", "keras", "tensorflow-cpu", "lightgbm")

EstimatorT = TypeVar("EstimatorT", bound="DirectionClassifier")


@dataclass(frozen=True)
class SavedRecord:
    """The content of ``estimator.json``."""

    family: str
    params: dict[str, Any]
    feature_names: list[str]
    state: dict[str, Any]


def package_versions() -> dict[str, str]:
    """Return the installed versions of the packages a saved model depends on."""
    versions: dict[str, str] = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_record(
    directory: Path,
    estimator: DirectionClassifier,
    state: dict[str, Any],
    params: dict[str, Any] | None = None,
) -> None:
    """Create ``directory`` and write ``estimator.json`` for a fitted estimator.

    Args:
        directory: The model directory (created if needed).
        estimator: The fitted estimator.
        state: Its learned state (JSON-serialisable; NumPy arrays become lists).
        params: Constructor parameters to record; default ``estimator.get_params(deep=False)``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "format_version": FORMAT_VERSION,
        "family": estimator.family,
        "estimator": type(estimator).__name__,
        "params": estimator.get_params(deep=False) if params is None else params,
        "feature_names": [str(n) for n in estimator.feature_names_in_],
        "state": state,
        "versions": package_versions(),
    }
    (directory / RECORD_FILE).write_text(json.dumps(record, indent=2, default=_plain))


def read_json(file: Path) -> dict[str, Any]:
    """Read a JSON object from ``file``.

    Raises:
        ModelLoadError: if the file is missing, unreadable or not a JSON object.
    """
    try:
        content = json.loads(Path(file).read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"Cannot read {file} ({exc}). The model directory is missing or corrupt; "
            "retrain the pair or re-download the model."
        ) from exc
    if not isinstance(content, dict):
        raise ModelLoadError(f"{file} is corrupt: expected a JSON object; retrain the model.")
    return content


def read_record(directory: Path, family: str | None = None) -> SavedRecord:
    """Read and check ``directory/estimator.json``.

    Args:
        directory: A directory written by an estimator's ``save``.
        family: The family the caller expects, or None to accept any.

    Raises:
        ModelLoadError: if the file is missing or corrupt, has another format version, or holds
            another family than ``family``.
    """
    file = Path(directory) / RECORD_FILE
    content = read_json(file)
    if content.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            f"{file} has format version {content.get('format_version')!r}, this mlpkg reads "
            f"{FORMAT_VERSION}; retrain the model with this version."
        )
    try:
        record = SavedRecord(
            family=str(content["family"]),
            params=dict(content["params"]),
            feature_names=[str(n) for n in content["feature_names"]],
            state=dict(content["state"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{file} is corrupt ({exc!r}); retrain the model.") from exc
    if family is not None and record.family != family:
        raise ModelLoadError(
            f"{directory} holds a {record.family!r} model, not {family!r}; load it with "
            "mlpkg.models.load_estimator, which reads the family from the directory."
        )
    return record


def restore(cls: type[EstimatorT], record: SavedRecord, directory: Path) -> EstimatorT:
    """Build ``cls(**record.params)`` with its input state (feature names) set.

    Raises:
        ModelLoadError: if the parameters do not fit the class.
    """
    try:
        estimator = cls(**record.params)
    except TypeError as exc:
        raise ModelLoadError(
            f"{directory / RECORD_FILE} has parameters {cls.__name__} does not take ({exc}); "
            "the model comes from another mlpkg version: retrain it."
        ) from exc
    estimator._set_input_state(record.feature_names)
    return estimator


def corrupt(directory: Path, exc: Exception) -> ModelLoadError:
    """Return the error for a model directory whose saved state is inconsistent."""
    return ModelLoadError(
        f"Model directory {directory} has corrupt or inconsistent state ({exc!r}); retrain the "
        "model or re-download it."
    )


def scaler_to_json(scaler: StandardScaler) -> dict[str, Any]:
    """Return a fitted StandardScaler's state as JSON-ready lists."""
    return {
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "var": scaler.var_.tolist(),
        "n_samples_seen": int(scaler.n_samples_seen_),
    }


def scaler_from_json(content: dict[str, Any], n_features: int) -> StandardScaler:
    """Rebuild a fitted StandardScaler from :func:`scaler_to_json`'s output.

    Raises:
        ValueError: if its sizes differ from ``n_features``.
    """
    from sklearn.preprocessing import StandardScaler

    mean = np.asarray(content["mean"], dtype=np.float64)
    scale = np.asarray(content["scale"], dtype=np.float64)
    var = np.asarray(content["var"], dtype=np.float64)
    if not len(mean) == len(scale) == len(var) == n_features:
        raise ValueError(
            f"the scaler has {len(mean)} means and {len(scale)} scales for {n_features} features"
        )
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, var
    scaler.n_features_in_ = n_features
    scaler.n_samples_seen_ = int(content["n_samples_seen"])
    return scaler
