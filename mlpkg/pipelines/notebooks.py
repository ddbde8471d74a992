"""The shared interface of the parameterised notebooks (10-train, 20-evaluate, 30-compare...).

Papermill needs each notebook's ``parameters`` cell to hold literal assignments, so the cell
cannot be imported; instead its text is *generated* here from ``RunConfig`` (names, types,
defaults and descriptions), and a test checks that every notebook's cell equals what
:func:`parameters_source` returns (regenerate with ``python -m mlpkg.pipelines.notebooks``).
The validation cell is one call: ``config = config_from_namespace(globals())``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mlpkg.config import RunConfig

HEADER = "# Run parameters: RunConfig.flat_fields() (papermill and `mlpkg batch` set them)."
HANDOFF = (
    "# Batch hand-off\n"
    'run_id: str = ""  # MLflow run to resume (the batch runner opens it); empty opens a new run'
)
RUN_NOTEBOOKS: tuple[str, ...] = ("10-train-pair", "20-evaluate-pair")
"""Notebooks whose parameters cell is the whole RunConfig."""


def _descriptions() -> dict[str, str]:
    """Flattened field name -> its description (from the config sections)."""
    found: dict[str, str] = {}
    for name, info in RunConfig.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            prefix = f"{getattr(kind, 'family', '')}_" if getattr(kind, "family", "") else ""
            for field, sub in kind.model_fields.items():
                found[f"{prefix}{field}"] = sub.description or ""
        else:
            found[name] = info.description or ""
    return found


def _literal(value: Any) -> tuple[str, str]:
    """The annotation and Python literal of a default value, quoted the way ruff formats it."""
    if isinstance(value, tuple):
        kind = "int" if value and all(isinstance(v, int) for v in value) else "str"
        return f"list[{kind}]", "[" + ", ".join(_literal(v)[1] for v in value) + "]"
    if isinstance(value, str):
        return "str", json.dumps(value)
    return type(value).__name__, repr(value)


def parameters_source(extra: Mapping[str, tuple[str, Any, str]] | None = None) -> str:
    """The text of a run notebook's ``parameters`` cell (every RunConfig field, then run_id).

    Args:
        extra: More parameters after the run config: name -> (annotation, default, help).
    """
    descriptions = _descriptions()
    lines = [HEADER]
    # The fields' own defaults (calendar "": the pair's calendar from MLPKG_CALENDARS).
    for name, default in RunConfig.model_construct().to_flat().items():
        kind, literal = _literal(default)
        lines.append(f"{name}: {kind} = {literal}  # {descriptions.get(name, '')}")
    for name, (kind, default, text) in (extra or {}).items():
        lines.append(f"{name}: {kind} = {_literal(default)[1]}  # {text}")
    lines.append(HANDOFF)
    return "\n".join(lines)


def config_from_namespace(namespace: Mapping[str, Any]) -> RunConfig:
    """Validate a notebook's parameters (its ``globals()``) into a RunConfig.

    Raises:
        ConfigError: on an invalid value (the message names the parameter).
    """
    values = {name: namespace[name] for name in RunConfig.flat_fields() if name in namespace}
    return RunConfig.from_flat(**values)


def sync_parameters(path: Path) -> bool:
    """Rewrite the ``parameters`` cell of a run notebook from RunConfig; True if it changed."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    source = parameters_source()
    if cell.source == source:
        return False
    cell.source = source
    nbformat.write(notebook, path)  # type: ignore[no-untyped-call]
    return True


if __name__ == "__main__":  # python -m mlpkg.pipelines.notebooks [notebooks/]
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "notebooks")
    for name in RUN_NOTEBOOKS:
        if sync_parameters(folder / f"{name}.ipynb"):
            sys.stderr.write(f"updated {name}\n")
