"""What an API process's start-up costs: import time and memory by top-level package.

Runs ``python -X importtime -c "import mlpkg.cli, uvicorn, mlpkg.serving.app; ..."`` in a
fresh interpreter (what ``mlpkg serve`` imports before any model is loaded), sums the self
time of every module under its top-level package, and reports the RSS of that interpreter
after the import, and after also importing ``onnxruntime`` (which the server loads with its
first ONNX model). ``--repeat`` runs take the median per package (start-up times on a shared
machine are noisy).

    nice -n 10 .venv/bin/python bench/serving/bench_imports.py --repeat 3
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import statistics
import subprocess
from collections import defaultdict

from _machine import describe_machine

WATCHED = ("mlflow", "sqlalchemy", "httpx", "scipy", "scipy.stats", "scipy.signal", "pyarrow")
"""Modules whose presence after the import is reported."""
PROBE = (
    "import json, os, sys, time, psutil; t = time.perf_counter(); "
    "import mlpkg.cli, uvicorn, mlpkg.serving.app; "
    "a = time.perf_counter() - t; r1 = psutil.Process().memory_info().rss; import onnxruntime; "
    "r2 = psutil.Process().memory_info().rss; "
    "print(json.dumps({'import_s': a, 'rss_app': r1, 'rss_onnx': r2, "
    f"**{{m: m in sys.modules for m in {WATCHED!r}}}}}))"
)


def one_run() -> tuple[dict[str, float], dict[str, object]]:
    """Self import time (s) per top-level package, and the probe's own figures."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    per_package: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, name = _parse(line)
        per_package[name.strip().split(".")[0]] += self_us / 1e6
    return dict(per_package), json.loads(done.stdout.strip().splitlines()[-1])


def _parse(line: str) -> tuple[float, str]:
    """``import time: SELF | CUMULATIVE | NAME`` -> (self microseconds, module name)."""
    head, _, name = line.split("|")
    return float(head.split(":")[1]), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.repeat)]
    packages = sorted({p for times, _ in runs for p in times})
    median = {p: statistics.median(t.get(p, 0.0) for t, _ in runs) for p in packages}
    probes = [probe for _, probe in runs]
    total = statistics.median(float(str(p["import_s"])) for p in probes)
    print(describe_machine())
    imported = "mlpkg.cli, uvicorn, mlpkg.serving.app"
    print(f"\nimport {imported}: {total:.2f} s (median of {args.repeat})")
    rss_app = statistics.median(float(str(p["rss_app"])) for p in probes) / 2**20
    rss_onnx = statistics.median(float(str(p["rss_onnx"])) for p in probes) / 2**20
    print(f"RSS after the import: {rss_app:.0f} MiB; with onnxruntime: {rss_onnx:.0f} MiB")
    loaded = {k: probes[0][k] for k in WATCHED}
    print(f"loaded by the import: {loaded}")
    print("\n| package | self import time s (median) | share |\n|---|---:|---:|")
    summed = sum(median.values())
    for name, seconds in sorted(median.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"| {name} | {seconds:.3f} | {seconds / summed:.0%} |")


if __name__ == "__main__":
    main()
