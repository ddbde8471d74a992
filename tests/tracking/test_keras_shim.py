"""Contract: the private Keras function mlpkg calls before a tf2onnx conversion still exists.

Fails, by name, when a Keras upgrade moves ``keras.src.export.tf2onnx_lib.patch_tf2onnx``
(``mlpkg.tracking.keras_shim``), rather than inside an ONNX export.
"""

from __future__ import annotations

import importlib

import pytest

from mlpkg.errors import LibraryInternalsError
from mlpkg.tracking import keras_shim


def test_keras_still_ships_the_tf2onnx_patch():
    module = importlib.import_module(keras_shim.PRIVATE_MODULE)
    assert callable(getattr(module, keras_shim.PATCH, None)), (
        f"{keras_shim.PRIVATE_MODULE}.{keras_shim.PATCH} is gone: update "
        "mlpkg/tracking/keras_shim.py"
    )
    keras_shim.patch_tf2onnx()  # and applying it works (idempotent)
    import numpy as np

    assert np.object is object  # noqa: NPY001 (what tf2onnx 1.17 reads; NumPy 2 removed it)


def test_a_moved_private_function_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(keras_shim, "PATCH", "no_such_function")
    with pytest.raises(LibraryInternalsError, match="no_such_function is gone"):
        keras_shim.patch_tf2onnx()
