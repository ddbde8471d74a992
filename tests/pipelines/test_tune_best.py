"""`train --params-from` reads one JSON file: it must not load Ray, Optuna or matplotlib."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("ray", "optuna", "matplotlib", "tensorflow")


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"import sys\n{statement}\n"
        f"import json; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_best_trial_reader_imports_neither_ray_optuna_nor_matplotlib():
    loaded = _loaded_after("from mlpkg.pipelines.tune import apply_tuned_params, tuned_params")
    assert loaded == []


def test_the_tune_package_itself_is_light_until_a_heavy_name_is_used():
    assert _loaded_after("import mlpkg.pipelines.tune") == []
    loaded = _loaded_after("from mlpkg.pipelines.tune import run_tune")
    assert {"ray", "optuna"} <= set(loaded), "the lazy import did load the search"
