"""The project's promises about itself: one dependency list, two-command quickstart, CI = README."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_the_package_with_the_pyproject_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    requires = _pyproject()["project"]["requires-python"]
    assert python == "python=3.11"
    assert ">=3.11" in requires and "<3.12" in requires
    assert pip_section == ["-e .[dev]"], "environment.yml must install from pyproject only"
    conda_pkgs = {d.split("=")[0] for d in deps if isinstance(d, str)}
    assert conda_pkgs == {"python", "pip"}, "declare dependencies in pyproject.toml, not here"


def test_every_runtime_dependency_is_pinned():
    project = _pyproject()["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" in spec, f"{spec} is not pinned"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert match, "README must open its quickstart with a code block"
    commands = [line.strip() for line in match.group(1).splitlines() if line.strip()]
    assert len(commands) == 2, f"quickstart must be two commands, got {commands}"
    test_command = commands[1]
    assert test_command == "make test"
    ci_commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci_commands[-1] == test_command


def test_make_help_lists_every_target():
    out = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-z][a-z-]*):.*?## ", makefile, re.M)
    assert len(targets) >= 14
    for target in targets:
        assert re.search(rf"^\s+{target}\s", out, re.M), f"{target} missing from make help"
    for required in ("install", "run", "lint", "test", "train", "serve", "bench", "mlflow-ui"):
        assert required in targets
