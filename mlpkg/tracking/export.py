"""Runtime artifacts of a registered model: each member's light runtime, written at registration.

``export_bundle`` runs when a bundle is saved (``mlpkg.tracking.bundle.save_bundle``, hence for
every logged and registered version) and decides, per member, what the prediction server runs:

* **Neural families** (``lstm``, ``gru``, ``cnn``, ``transformer``):
  ``members/<family>/model.onnx``, the Keras graph exported to ONNX. Its input is the
  *scaled* float32 window ``(batch, window, n_features)`` and its output P(up) ``(batch, 1)``;
  the scaler, the feature order and the window stay in the member's ``estimator.json``.
  Export: Keras 3's ``model.export(path, format="onnx")`` after the model has been called once
  (tf2onnx through a ``tf.function``); a SavedModel converted with tf2onnx is the fallback. The
  exported graph is then run with ONNX Runtime on probe windows beside Keras: if they differ
  by more than ``PARITY_TOLERANCE`` the file is removed and the member is served by Keras
  (status says so).
* **LightGBM**: its own booster (``booster.txt``). Measured (docs/benchmarks.md): ONNX Runtime is
  0.01-0.02 ms per row faster, but onnxmltools' tree ensemble only takes float32 inputs, so its
  P(up) differs from the booster's by up to 0.06 (thresholds compared in float32): it fails the
  1e-5 parity rule, while the booster is exact and already 0.02-0.04 ms per row.
* **Logistic**: NumPy from ``estimator.json`` (scaler, coefficients, intercept).

The decisions are recorded in ``meta.json`` as ``runtimes`` (member -> runtime). Keras,
TensorFlow and tf2onnx are imported only when a neural member is exported.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlpkg.errors import ExportError
from mlpkg.models.registry import ServingRuntime, find_family

log = logging.getLogger(__name__)

Runtime = Literal[ServingRuntime, "keras"]
"""What executes a member in the prediction server (``keras``: a neural member whose ONNX
export failed)."""
ONNX_FILE = "model.onnx"
"""The ONNX graph of a neural member, beside its ``estimator.json``."""
PARITY_TOLERANCE = 1e-5
"""Largest |P(up) ONNX - P(up) Keras| accepted at export (float32 rounding is ~1e-7)."""
PROBE_WINDOWS = 64
"""Probe windows compared at export (scaled inputs drawn from N(0, 1), fixed seed)."""


def export_bundle(members: Mapping[str, Any], root: Path) -> dict[str, Runtime]:
    """Write each member's runtime artifact under ``root/members/<name>/``; return the runtimes.

    Args:
        members: Member name (family) -> fitted estimator, as in ``ModelBundle.members``.
        root: The bundle folder (``members/<name>/`` already saved there).

    Returns:
        Member -> runtime (``onnxruntime``, ``lightgbm``, ``numpy`` or ``keras`` when the ONNX
        export failed or disagreed with Keras).
    """
    runtimes: dict[str, Runtime] = {}
    for name, member in members.items():
        family = str(getattr(member, "family", name))
        spec = find_family(family)
        if spec is not None and spec.runtime == "onnxruntime":
            runtimes[name] = export_neural(member, Path(root) / "members" / name / ONNX_FILE)
        else:
            runtimes[name] = "numpy" if spec is None else spec.runtime
    return runtimes


def export_neural(estimator: Any, path: Path) -> Runtime:
    """Export a fitted Keras family to ``path`` and check it against Keras.

    Returns:
        ``"onnxruntime"`` when the graph was written and agrees with Keras within
        ``PARITY_TOLERANCE`` on the probe windows; ``"keras"`` otherwise (no file is left).
    """
    shape = (int(estimator.window), int(estimator.n_features_in_))
    started = time.perf_counter()
    try:
        export_onnx(estimator.model_, path, shape)
        diff = onnx_parity(estimator.model_, path, probe_windows(shape))
    except Exception as exc:  # any exporter failure leaves the member to Keras
        path.unlink(missing_ok=True)
        log.warning("%s: ONNX export failed, serving it with Keras: %s", path.parent.name, exc)
        return "keras"
    if diff > PARITY_TOLERANCE:
        path.unlink(missing_ok=True)
        log.warning(
            "%s: ONNX differs from Keras by %.2e (> %.0e); serving it with Keras",
            path.parent.name,
            diff,
            PARITY_TOLERANCE,
        )
        return "keras"
    log.info(
        "%s: exported to ONNX in %.1f s (max |diff| vs Keras %.1e)",
        path.parent.name,
        time.perf_counter() - started,
        diff,
    )
    return "onnxruntime"


def export_onnx(model: Any, path: Path, shape: tuple[int, int]) -> None:
    """Write the Keras ``model`` as ONNX with one input ``(batch, *shape)`` float32.

    Calls the model once first (Keras 3 exports only called models), then
    ``model.export(format="onnx")``; if that raises, exports a SavedModel and converts it with
    tf2onnx.

    Raises:
        ExportError: if neither route produced a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    model(np.zeros((1, *shape), dtype=np.float32), training=False)
    with _quiet_converters():
        try:
            model.export(str(path), format="onnx", verbose=False)
        except Exception as exc:  # Keras' own route failed: fall back to SavedModel + tf2onnx
            log.info("Keras ONNX export failed (%s); converting a SavedModel with tf2onnx", exc)
            _export_via_saved_model(model, path, shape)
    if not path.is_file():
        raise ExportError(f"No ONNX file was written at {path}.")


def _export_via_saved_model(model: Any, path: Path, shape: tuple[int, int]) -> None:
    import tensorflow as tf
    import tf2onnx  # type: ignore[import-untyped]

    from mlpkg.tracking.keras_shim import patch_tf2onnx

    patch_tf2onnx()  # tf2onnx 1.17 still reads np.object (removed in NumPy 2)
    with tempfile.TemporaryDirectory(prefix="mlpkg-savedmodel-") as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        loaded = tf.saved_model.load(tmp)
        spec = [tf.TensorSpec((None, *shape), tf.float32, name="window")]
        function = tf.function(lambda window: loaded.serve(window), input_signature=spec)
        tf2onnx.convert.from_function(function, input_signature=spec, output_path=str(path))


@contextmanager
def _quiet_converters() -> Iterator[None]:
    """Silence tf2onnx's and TensorFlow's INFO chatter during an export."""
    names = ("tf2onnx", "tensorflow", "absl")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def probe_windows(shape: tuple[int, int], count: int = PROBE_WINDOWS) -> np.ndarray:
    """Scaled probe windows ``(count, *shape)`` float32 from N(0, 1) with a fixed seed."""
    rng = np.random.default_rng(20261201)
    return rng.standard_normal((count, *shape)).astype(np.float32)


def onnx_session(path: Path) -> Any:
    """An ONNX Runtime CPU session tuned for one small window per call.

    One intra-op thread without spinning: a window is tens of microseconds of work, and the
    server's own threads run the requests in parallel.
    """
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_parity(model: Any, path: Path, windows: np.ndarray) -> float:
    """Return max |P(up) ONNX Runtime - P(up) Keras| over ``windows`` (scaled, float32)."""
    session = onnx_session(path)
    name = session.get_inputs()[0].name
    ours = np.asarray(session.run(None, {name: windows})[0], dtype=np.float64).reshape(-1)
    keras_p = np.asarray(model.predict_on_batch(windows), dtype=np.float64).reshape(-1)
    return float(np.max(np.abs(ours - keras_p)))
