"""The project's promises about itself: one dependency list, two-command quickstart, CI = README."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
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


def test_every_relative_link_in_the_readme_and_docs_resolves():
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for source in sources:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", source.read_text()):
            if "://" not in target and not (source.parent / target).exists():
                broken.append(f"{source.relative_to(ROOT)} -> {target}")
    assert not broken, f"links to files that do not exist: {broken}"


def test_the_readme_has_no_placeholders():
    readme = (ROOT / "README.md").read_text()
    assert not re.search(r"\bTBD\b|TODO|_SUMMARY\b", readme), "fill in every README figure"


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


def test_the_architecture_doc_lists_exactly_the_modules_that_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"`(mlpkg/[\w/]+\.py)`", text))
    modules = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "mlpkg").rglob("*.py")
        if path.name != "__init__.py" or path.parent == ROOT / "mlpkg"
    }
    assert sorted(modules - listed) == [], "modules missing from docs/architecture.md"
    assert sorted(listed - modules) == [], "docs/architecture.md lists modules that do not exist"


def test_the_architecture_doc_gives_the_import_linter_layers_in_order():
    text = (ROOT / "docs" / "architecture.md").read_text()
    (layers,) = [
        c["layers"] for c in _pyproject()["tool"]["importlinter"]["contracts"] if "layers" in c
    ]
    diagram = text.split("```")[1]
    documented = [line.split("  ")[0].strip() for line in diagram.strip().splitlines()]
    assert documented == layers


def test_the_wheel_ships_the_notebooks_for_the_batch_runner(tmp_path):
    """A non-editable install has no source tree: the notebooks travel in the wheel's data."""
    source = tmp_path / "src"  # a copy, so the build writes nothing into the repository
    shutil.copytree(ROOT / "mlpkg", source / "mlpkg", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", source / "notebooks")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    offline = ["--no-deps", "--no-build-isolation", "--no-index", "--quiet"]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("mlpkg-*.whl")
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 5
    data = f"mlpkg-{_pyproject()['project']['version']}.data/data/share/mlpkg/notebooks"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for notebook in notebooks:
            assert archive.read(f"{data}/{notebook.name}") == notebook.read_bytes()
        assert "mlpkg/pipelines/batch.py" in names and "mlpkg/datasets/SHA256SUMS" in names
        static = "mlpkg/serving/static/"  # the dashboard page and its vendored chart library
        for page_file in ("index.html", "dashboard.js", "dashboard.css", "vendor/README.md"):
            assert static + page_file in names, page_file
        assert static + "vendor/LICENSE-lightweight-charts" in names
