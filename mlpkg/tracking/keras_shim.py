"""The one place mlpkg reaches into Keras' private modules: ``keras.src.export.tf2onnx_lib``.

tf2onnx 1.17 still reads ``np.object`` (removed in NumPy 2). Keras ships a patch for it in its
private ``keras.src.export.tf2onnx_lib.patch_tf2onnx``, which its own ONNX export applies; the
SavedModel fallback of ``mlpkg.tracking.export`` applies it too, through this shim.
``tests/tracking/test_keras_shim.py`` pins it against the installed Keras, so an upgrade that
moves it fails there, by name, rather than in an export.
"""

from __future__ import annotations

import importlib

from mlpkg.errors import LibraryInternalsError

PRIVATE_MODULE = "keras.src.export.tf2onnx_lib"
"""The private Keras module read here."""
PATCH = "patch_tf2onnx"
"""Its function that makes tf2onnx work with NumPy 2."""


def patch_tf2onnx() -> None:
    """Apply Keras' tf2onnx patch (idempotent: Keras applies it once).

    Raises:
        LibraryInternalsError: if the installed Keras no longer has the private function.
    """
    try:
        patch = getattr(importlib.import_module(PRIVATE_MODULE), PATCH)
    except (ImportError, AttributeError) as exc:
        import keras

        raise LibraryInternalsError(
            f"keras {keras.__version__}: {PRIVATE_MODULE}.{PATCH} is gone ({exc}), which "
            "mlpkg.tracking.keras_shim calls before a tf2onnx conversion. Install the Keras "
            "version pyproject.toml pins, or update the shim."
        ) from exc
    patch()
