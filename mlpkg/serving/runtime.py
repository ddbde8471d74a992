"""The served model without TensorFlow: a registered bundle read by each member's light runtime.

``load_runtime_bundle(folder)`` reads a downloaded ``bundle/`` folder (``meta.json``, each
member's ``estimator.json`` and its runtime artifact, see ``mlpkg.tracking.export``) and returns
a ``RuntimeBundle`` that scores windows of feature rows:

* lstm, gru, cnn, transformer: ``onnxruntime``, their ``model.onnx`` (scaler and window from
  ``estimator.json``);
* lightgbm: ``lightgbm``, its booster (``booster.txt``) on the window summaries;
* logistic: ``numpy``, scaler, coefficients and intercept from ``estimator.json``;
* a neural member without ``model.onnx`` (bundles registered before ONNX export): ``keras``,
  its ``model.keras``.

Ensembles combine their members with ``mlpkg.models.mixture.combine`` (NumPy). Only a ``keras``
member imports TensorFlow, and only a ``lightgbm`` member imports LightGBM; ONNX Runtime sessions
are thread-safe, so only Keras members score under a lock. ``mlpkg.tracking.bundle.load_bundle``
(every member through Keras/LightGBM/scikit-learn) stays the research and pyfunc path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlpkg.config import FAMILIES, RunConfig
from mlpkg.errors import ModelLoadError, UnknownMemberError
from mlpkg.models.artifacts import SavedRecord, read_record
from mlpkg.models.mixture import MEMBERS_DIR, MemberMixture, combine
from mlpkg.models.registry import ServingRuntime, find_family
from mlpkg.models.signals import POLICY_META
from mlpkg.models.windows import windows_at
from mlpkg.tracking.bundle import read_meta
from mlpkg.tracking.export import ONNX_FILE, Runtime, onnx_session

log = logging.getLogger(__name__)


class MemberRuntime(Protocol):
    """One member as the server runs it."""

    @property
    def name(self) -> str:
        """The member's name in the bundle (its family)."""

    @property
    def family(self) -> str:
        """The model family (``lstm``, ``lightgbm``...)."""

    @property
    def runtime(self) -> Runtime:
        """What executes it."""

    @property
    def context_rows(self) -> int:
        """Rows of history needed before a scored row."""

    def predict_up(self, values: np.ndarray) -> np.ndarray:
        """P(up) of each row of ``values`` (float64 feature rows, oldest first).

        Rows without ``context_rows`` rows of history before them are NaN (the estimators'
        ``predict_proba`` rule).
        """


def _windows(scaled: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Every full float32 window of ``scaled`` and the rows they end at."""
    ends = np.arange(window - 1, len(scaled))
    return windows_at(scaled, ends, window), ends


def _scaler(record: SavedRecord, directory: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        mean = np.asarray(record.state["scaler"]["mean"], dtype=np.float64)
        scale = np.asarray(record.state["scaler"]["scale"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(
            f"{directory}/estimator.json has no valid scaler ({exc}); retrain the model."
        ) from exc
    if not len(mean) == len(scale) == len(record.feature_names):
        raise ModelLoadError(
            f"{directory}/estimator.json: the scaler has {len(mean)} means for "
            f"{len(record.feature_names)} features; the files come from different models: retrain."
        )
    return mean, scale


@dataclass
class OnnxMember:
    """A neural family: NumPy scaling, then its ONNX graph in ONNX Runtime."""

    name: str
    family: str
    window: int
    mean: np.ndarray
    scale: np.ndarray
    session: Any
    input_name: str
    runtime: Runtime = "onnxruntime"

    @property
    def context_rows(self) -> int:
        """``window - 1`` rows of history before a scored row."""
        return self.window - 1

    def predict_up(self, values: np.ndarray) -> np.ndarray:
        """P(up) of every row with a full window (NaN before)."""
        p_up = np.full(len(values), np.nan)
        if len(values) >= self.window:
            batch, ends = _windows((values - self.mean) / self.scale, self.window)
            out = self.session.run(None, {self.input_name: batch})[0]
            p_up[ends] = np.asarray(out, dtype=np.float64).reshape(-1)
        return p_up

    @classmethod
    def load(cls, name: str, directory: Path, record: SavedRecord) -> OnnxMember:
        """Open ``model.onnx`` and check it reads ``(batch, window, n_features)``.

        Raises:
            ModelLoadError: if the graph cannot be opened or its input shape differs.
        """
        mean, scale = _scaler(record, directory)
        window = int(record.params["window"])
        try:
            session = onnx_session(directory / ONNX_FILE)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(
                f"Cannot open {directory / ONNX_FILE} ({exc}); the file is corrupt: retrain the "
                "pair or re-register the version."
            ) from exc
        (graph_input,) = session.get_inputs()
        shape = list(graph_input.shape)[1:]
        if shape != [window, len(mean)]:
            raise ModelLoadError(
                f"{directory / ONNX_FILE} reads windows of shape {shape}, but its estimator.json "
                f"says [{window}, {len(mean)}]: the files come from different models; retrain."
            )
        return cls(name, record.family, window, mean, scale, session, graph_input.name)


@dataclass
class LogisticMember:
    """The logistic family in NumPy: sigmoid of the scaled row times the coefficients."""

    name: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray | None
    intercept: float
    base_rate: float
    family: str = "logistic"
    runtime: Runtime = "numpy"
    context_rows: int = 0

    def predict_up(self, values: np.ndarray) -> np.ndarray:
        """P(up) of every row (the training prior when one class was seen)."""
        if self.coef is None:
            return np.full(len(values), self.base_rate)
        from scipy.special import expit  # here: SciPy only in servers with a logistic member

        z = ((values - self.mean) / self.scale) @ self.coef + self.intercept
        return np.asarray(expit(z), dtype=np.float64)

    @classmethod
    def load(cls, name: str, directory: Path, record: SavedRecord) -> LogisticMember:
        """Read the scaler, coefficients and intercept from ``estimator.json``.

        Raises:
            ModelLoadError: if the state is missing or its sizes disagree.
        """
        mean, scale = _scaler(record, directory)
        try:
            state = record.state
            coef = None if state["coef"] is None else np.asarray(state["coef"], dtype=np.float64)
            intercept = 0.0 if state["intercept"] is None else float(state["intercept"])
            base_rate = float(state["base_rate"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(
                f"{directory}/estimator.json is corrupt ({exc}); retrain."
            ) from exc
        if coef is not None and coef.shape != mean.shape:
            raise ModelLoadError(
                f"{directory}/estimator.json: {coef.size} coefficients for {mean.size} features; "
                "retrain the model."
            )
        return cls(name, mean, scale, coef, intercept, base_rate)


@dataclass
class LightGBMMember:
    """The LightGBM family: its booster on the window summaries (``window_summaries``)."""

    name: str
    window: int
    booster: Any
    num_threads: int
    family: str = "lightgbm"
    runtime: Runtime = "lightgbm"

    @property
    def context_rows(self) -> int:
        """``window - 1`` rows of history before a scored row."""
        return self.window - 1

    def predict_up(self, values: np.ndarray) -> np.ndarray:
        """P(up) of every row with a full window (NaN before), straight from the booster."""
        from mlpkg.models.lightgbm import booster_p_up

        return booster_p_up(self.booster, values, self.window, self.num_threads)

    @classmethod
    def load(cls, name: str, directory: Path) -> LightGBMMember:
        """Load ``booster.txt`` through the estimator (which checks it against its record).

        Raises:
            ModelLoadError: if a file is missing or corrupt.
        """
        from mlpkg.models.lightgbm import LightGBMDirectionClassifier

        estimator = LightGBMDirectionClassifier.load(directory)
        return cls(name, int(estimator.window), estimator.booster_, int(estimator.num_threads))


@dataclass
class EstimatorMember:
    """A neural member run by Keras (bundles registered before ONNX export)."""

    name: str
    family: str
    runtime: Runtime
    estimator: Any
    lock: threading.Lock | None = None

    @property
    def context_rows(self) -> int:
        """The estimator's ``context_rows``."""
        return int(self.estimator.context_rows)

    def predict_up(self, values: np.ndarray) -> np.ndarray:
        """P(up) per row through the estimator (Keras under a lock: one call at a time)."""
        frame = pd.DataFrame(values, columns=list(self.estimator.feature_names_in_))
        if self.lock is None:
            return np.asarray(self.estimator.predict_proba(frame)[:, 1], dtype=np.float64)
        with self.lock:
            return np.asarray(self.estimator.predict_proba(frame)[:, 1], dtype=np.float64)

    @classmethod
    def load(cls, name: str, directory: Path, record: SavedRecord) -> EstimatorMember:
        """Load the member with Keras (imports TensorFlow).

        Raises:
            ModelLoadError: if its files are missing or corrupt.
        """
        from mlpkg.models.families import load_estimator

        log.warning(
            "%s has no %s (registered before ONNX export): serving it with Keras, which imports "
            "TensorFlow; retrain the pair to serve it with ONNX Runtime",
            directory,
            ONNX_FILE,
        )
        return cls(name, record.family, "keras", load_estimator(directory), threading.Lock())


def load_member(name: str, directory: Path, features: Sequence[str]) -> MemberRuntime:
    """Load one member with its light runtime (see the module docstring).

    Args:
        name: The member's name in the bundle.
        directory: Its folder (``members/<name>/``).
        features: The bundle's feature names; the member must read exactly these.

    Raises:
        ModelLoadError: if its files are missing or corrupt, its features differ, or its family
            is unknown.
    """
    record = read_record(directory)
    if record.feature_names != list(features):
        raise ModelLoadError(
            f"{directory}/estimator.json reads other features than the bundle's meta.json; the "
            "files come from different models: retrain the pair."
        )
    spec = find_family(record.family)
    if spec is None:
        raise ModelLoadError(
            f"{directory} holds a {record.family!r} model, which the server cannot run; register "
            f"a model family ({', '.join(FAMILIES)}) or an ensemble of them."
        )
    return _LOADERS[spec.runtime](name, directory, record)


def _load_onnx(name: str, directory: Path, record: SavedRecord) -> MemberRuntime:
    """A neural member: its ONNX graph, or Keras when it has none (registered before export)."""
    if (directory / ONNX_FILE).is_file():
        return OnnxMember.load(name, directory, record)
    return EstimatorMember.load(name, directory, record)


def _load_lightgbm(name: str, directory: Path, record: SavedRecord) -> MemberRuntime:
    return LightGBMMember.load(name, directory)


_LOADERS: dict[ServingRuntime, Callable[[str, Path, SavedRecord], MemberRuntime]] = {
    "onnxruntime": _load_onnx,
    "lightgbm": _load_lightgbm,
    "numpy": LogisticMember.load,
}
"""The loader of each runtime kind of ``mlpkg.models.registry.FAMILY_TABLE`` (a test checks
every kind has one)."""


@dataclass(frozen=True)
class RuntimeBundle(MemberMixture):
    """A registered version as the server runs it: members, weights, features, window.

    Attributes:
        candidate: The family or ensemble the version holds (``lstm``, ``stacked``...).
        members: Member name (its family) -> runtime, in the procedure's order.
        weights: Member -> combination weight (1.0 for a single family).
        run_config: The run's config (features, horizon).
        feature_names: Feature columns, in the order the members read them.
        warmup_rows: Feature warm-up rows.
        candle_interval: The candle length the model was trained on.
        member_scores: Member -> mean development log loss (empty for versions registered
            before they were recorded).
        trained_on: Rows the members saw (``rows``, ``first_open_time``, ``last_open_time``).
        extra: The other keys of ``meta.json`` (e.g. ``drift_reference``, read by
            ``mlpkg.serving.drift``).
    """

    candidate: str
    members: dict[str, MemberRuntime]
    weights: dict[str, float]
    run_config: RunConfig
    feature_names: list[str]
    warmup_rows: int
    candle_interval: pd.Timedelta
    member_scores: dict[str, float] = field(default_factory=dict)
    trained_on: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def runtimes(self) -> dict[str, Runtime]:
        """Member -> what runs it (``onnxruntime``, ``lightgbm``, ``numpy`` or ``keras``)."""
        return {name: m.runtime for name, m in self.members.items()}

    @property
    def runtime(self) -> str:
        """The runtimes of the members, ``+``-joined in member order (``onnxruntime+numpy``)."""
        return "+".join(dict.fromkeys(self.runtimes.values()))

    @property
    def best_member(self) -> str:
        """The single member with the lowest development log loss.

        Versions without recorded member scores fall back to the member with the largest
        weight.
        """
        scored = {m: s for m, s in self.member_scores.items() if m in self.members}
        if scored:
            return min(scored, key=lambda m: (scored[m], list(self.members).index(m)))
        return max(self.members, key=lambda m: (self.weights[m], -list(self.members).index(m)))

    def resolve_member(self, model: str | None = None, ensemble: bool = True) -> str | None:
        """Which member answers a request (``None``: the candidate, every member combined).

        Args:
            model: A family asked for by name (``?model=gru``); it wins over ``ensemble``.
            ensemble: ``False`` (``?ensemble=false``) asks for the best single member
                (``best_member``) of an ensemble; a single-family version answers as usual.

        Raises:
            UnknownMemberError: if ``model`` is not a member of this version.
        """
        if model is not None:
            if model not in self.members:
                held = list(self.members)
                raise UnknownMemberError(
                    f"This version ({self.candidate}) holds no {model!r} member; it holds "
                    f"{', '.join(held)}. Ask for one of those, or drop ?model= for the "
                    f"{self.candidate} prediction.",
                    held,
                )
            return model if self.is_ensemble else None
        if not ensemble and self.is_ensemble:
            return self.best_member
        return None

    def member_probas(
        self, X: pd.DataFrame | np.ndarray, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """P(up) of each member (all, or ``names``) for each row of X (NaN without history)."""
        values = _values(X, self.feature_names)
        chosen = list(self.members) if names is None else list(names)
        return {name: self.members[name].predict_up(values) for name in chosen}

    def combine(self, probas: dict[str, np.ndarray]) -> np.ndarray:
        """Combine member probabilities with the registered weights (NumPy mixture)."""
        names = list(self.members)
        weights = np.asarray([self.weights[n] for n in names], dtype=np.float64)
        matrix = np.column_stack([np.asarray(probas[n], dtype=np.float64) for n in names])
        return np.asarray(combine(matrix, weights / weights.sum()))


def _values(X: pd.DataFrame | np.ndarray, names: list[str]) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        if [str(c) for c in X.columns] != names:
            raise ModelLoadError(
                "Feature columns differ from the model's; build them with the version's "
                "FeatureConfig (mlpkg.features.build.feature_names)."
            )
        return np.asarray(X.to_numpy(dtype=np.float64), dtype=np.float64)
    return np.asarray(X, dtype=np.float64)


def load_runtime_bundle(root: Path) -> RuntimeBundle:
    """Read a ``bundle/`` folder (as downloaded from the registry) for serving.

    Raises:
        ModelLoadError: if ``meta.json`` or a member is missing, corrupt or inconsistent.
    """
    meta = read_meta(root)
    try:
        procedure = meta["procedure"]
        candidate = str(procedure["name"])
        names = [str(m) for m in procedure["members"]]
        weights = {m: float(procedure["weights"][m]) for m in names}
        config = RunConfig.model_validate(meta["run_config"])
        interval = pd.Timedelta(seconds=float(meta["candle_interval_s"]))
        warmup = int(meta["warmup_rows"])
        features = [str(n) for n in meta["feature_names"]]
        scores = {str(k): float(v) for k, v in (meta.get("member_scores") or {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"Model metadata in {root} is incomplete ({exc}); retrain.") from exc
    if not names or sum(weights.values()) <= 0:
        raise ModelLoadError(f"Model metadata in {root} names no weighted member; retrain.")
    members = {m: load_member(m, Path(root) / MEMBERS_DIR / m, features) for m in names}
    extra = {k: v for k, v in meta.items() if k in _EXTRA_META}
    return RuntimeBundle(
        candidate,
        members,
        weights,
        config,
        features,
        warmup,
        interval,
        scores,
        dict(meta.get("trained_on") or {}),
        extra,
    )


_EXTRA_META = ("drift_reference", POLICY_META)
"""``meta.json`` keys kept in ``RuntimeBundle.extra`` for the live service."""
