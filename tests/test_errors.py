"""Every error class of the package lives in ``mlpkg/errors.py`` and is an ``MlpkgError``."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import mlpkg.errors as errors
from mlpkg.errors import MlpkgError

PACKAGE = Path(errors.__file__).parent


def _error_classes_outside_errors_py() -> list[str]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and (
                node.name.endswith(("Error", "Exception"))
                and any(ast.unparse(b).endswith(("Error", "Exception")) for b in node.bases)
            ):
                found.append(f"{path.relative_to(PACKAGE.parent)}: {node.name}")
    return found


def test_error_classes_are_defined_only_in_errors_py():
    assert _error_classes_outside_errors_py() == []


def test_every_error_in_errors_py_is_an_mlpkg_error():
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__
    ]
    assert len(classes) > 10
    assert all(issubclass(c, MlpkgError) for c in classes), classes
