"""The registered model: every fitted member, how they combine, and what serving needs.

A bundle is a folder ``bundle/`` inside the logged MLflow model:

* ``meta.json`` — format version, the run config, the procedure (candidate name, members,
  weights, training budgets), feature names, warm-up rows, candle interval, the rows the
  members were trained on;
* ``members/<family>/`` — each member saved by its estimator (Keras/LightGBM/JSON files, no
  pickle), plus whatever runtime artifacts the export step adds (ONNX).

The same bundle serves the pyfunc flavour (``mlflow models serve``) and mlpkg's own server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpkg.config import RunConfig
from mlpkg.errors import ModelLoadError
from mlpkg.models.mixture import MEMBERS_DIR, MemberMixture, combine

if TYPE_CHECKING:  # the serving process reads bundles without scikit-learn (serving/runtime.py)
    from mlpkg.evaluation.selection import Procedure
    from mlpkg.models.estimator import DirectionEstimator

BUNDLE_DIR = "bundle"
BUNDLE_ARTIFACT = "bundle"
"""The pyfunc model's artifact key of the bundle folder."""
PYFUNC_MODEL_FILE = Path(__file__).with_name("pyfunc_model.py")
"""The models-from-code file MLflow loads the bundle with (named by path, not imported here)."""
META_FILE = "meta.json"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class ModelBundle(MemberMixture):
    """Fitted members of a candidate with everything needed to predict live.

    Attributes:
        members: Family -> fitted estimator (one for a family, several for an ensemble).
        procedure: Candidate name, members, weights and the training budgets they used.
        run_config: The run's config (features, horizon, hyperparameters).
        warmup_rows: Feature warm-up rows.
        candle_interval: The candle length the model was trained on.
        trained_on: Rows the members saw: ``rows``, ``first_open_time``, ``last_open_time``.
        extra: Further metadata kept in ``meta.json`` (e.g. drift reference, runtimes).
    """

    members: dict[str, DirectionEstimator]
    procedure: Procedure
    run_config: RunConfig
    warmup_rows: int
    candle_interval: pd.Timedelta
    trained_on: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def candidate(self) -> str:
        """The family or ensemble name (``lstm``, ``stacked``...)."""
        return self.procedure.name

    @property
    def feature_names(self) -> list[str]:
        """The feature columns the members were trained on (the same for every member)."""
        first = next(iter(self.members.values()))
        return [str(n) for n in getattr(first, "feature_names_in_", [])]

    def member_probas(
        self, X: pd.DataFrame | np.ndarray, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """P(up) of every member (or of ``names``) for each row of X (NaN without history).

        An array X is read as the columns ``feature_names``, in that order.
        """
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(X, columns=self.feature_names)
        chosen = list(self.members) if names is None else list(names)
        return {name: np.asarray(self.members[name].predict_proba(X)[:, 1]) for name in chosen}

    def combine(self, probas: dict[str, np.ndarray]) -> np.ndarray:
        """Combine member probabilities with the procedure's weights."""
        names = list(self.members)
        weights = np.asarray([self.procedure.weights[n] for n in names], dtype=np.float64)
        matrix = np.column_stack([probas[n] for n in names])
        return np.asarray(combine(matrix, weights / weights.sum()))

    def meta(self) -> dict[str, Any]:
        """The JSON metadata written beside the members."""
        return {
            "format_version": FORMAT_VERSION,
            "run_config": self.run_config.model_dump(mode="json"),
            "procedure": self.procedure.as_dict(),
            "feature_names": self.feature_names,
            "warmup_rows": self.warmup_rows,
            "candle_interval_s": self.candle_interval.total_seconds(),
            "trained_on": self.trained_on,
            **self.extra,
        }


def save_bundle(bundle: ModelBundle, directory: Path, *, export: bool = True) -> Path:
    """Write ``directory/bundle/`` (meta and every member); return that folder.

    Args:
        bundle: The fitted bundle.
        directory: Where to create ``bundle/``.
        export: Also write each member's serving runtime artifact (ONNX for the neural
            families, see ``mlpkg.tracking.export``) and record the runtimes in ``meta.json``
            (``runtimes``: member -> ``onnxruntime`` / ``lightgbm`` / ``numpy`` / ``keras``).
    """
    from mlpkg.tracking.export import export_bundle

    root = Path(directory) / BUNDLE_DIR
    for name, member in bundle.members.items():
        member.save(root / MEMBERS_DIR / name)  # type: ignore[attr-defined]
    meta = bundle.meta()
    if export:
        meta["runtimes"] = export_bundle(bundle.members, root)
    (root / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return root


def read_meta(root: Path) -> dict[str, Any]:
    """Read and check ``meta.json`` of a bundle folder.

    Raises:
        ModelLoadError: if it is missing, corrupt, or of another format version.
    """
    path = Path(root) / META_FILE
    try:
        meta: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"Model metadata {path} is missing or corrupt ({exc}). Retrain the pair "
            "(mlpkg train --pair <PAIR>) to register a fresh version."
        ) from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            f"Model metadata {path} has format version {meta.get('format_version')!r}; this "
            f"mlpkg reads version {FORMAT_VERSION}. Retrain the pair to register a new version."
        )
    return meta


def load_bundle(root: Path) -> ModelBundle:
    """Load a bundle folder written by :func:`save_bundle` (Keras only for Keras members).

    Raises:
        ModelLoadError: if a file is missing or corrupt.
    """
    from mlpkg.evaluation.selection import Procedure
    from mlpkg.models.families import load_estimator

    meta = read_meta(root)
    try:
        procedure = Procedure.from_dict(meta["procedure"])
        config = RunConfig.model_validate(meta["run_config"])
        interval = pd.Timedelta(seconds=float(meta["candle_interval_s"]))
        warmup = int(meta["warmup_rows"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"Model metadata in {root} is incomplete ({exc}); retrain.") from exc
    members: dict[str, DirectionEstimator] = {
        m: load_estimator(Path(root) / MEMBERS_DIR / m) for m in procedure.members
    }
    known = {
        "format_version",
        "run_config",
        "procedure",
        "feature_names",
        "warmup_rows",
        "candle_interval_s",
        "trained_on",
    }
    extra = {k: v for k, v in meta.items() if k not in known}
    return ModelBundle(
        members, procedure, config, warmup, interval, meta.get("trained_on", {}), extra
    )


def log_bundle(bundle: ModelBundle, pip_requirements: list[str], example: pd.DataFrame) -> str:
    """Log the bundle as the active run's model (pyfunc from code, with a signature).

    Args:
        bundle: The fitted bundle.
        pip_requirements: Pinned requirements written with the model (skips MLflow's slow
            inference of them).
        example: A few feature rows (at least ``context_rows + 1``) for the signature.

    Returns:
        The logged model's URI.
    """
    import tempfile
    import warnings

    import mlflow
    from mlflow.models import infer_signature

    output = bundle.combine(bundle.member_probas(example))
    signature = infer_signature(example, output[~np.isnan(output)])
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # The signature is given; MLflow's advice to add an input example is noise here.
        warnings.filterwarnings("ignore", message=".*An input example was not provided")
        root = save_bundle(bundle, Path(tmp))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_MODEL_FILE),
            artifacts={BUNDLE_ARTIFACT: str(root)},
            pip_requirements=pip_requirements,
            signature=signature,
        )
    return str(info.model_uri)


def download_bundle_files(model_uri: str, dst: Path) -> Path:
    """Download a logged/registered model (e.g. ``models:/mlpkg-BTC/3``); return its bundle folder.

    Nothing is loaded: the prediction server reads the folder with its light runtime
    (``mlpkg.serving.runtime``), research code with :func:`load_bundle`.

    Raises:
        ModelLoadError: if the artifacts cannot be downloaded.
    """
    import mlflow

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dst)))
    except Exception as exc:
        raise ModelLoadError(f"Cannot download model {model_uri}: {exc}") from exc
    return local / "artifacts" / BUNDLE_DIR
