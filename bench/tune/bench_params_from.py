"""What ``mlpkg train --params-from`` pays to read a tune's best trial: import time and modules.

Runs ``from mlpkg.pipelines.tune import tuned_params, apply_tuned_params`` in fresh interpreters
(``--repeat`` times, median) and reports the wall time of that import, the number of modules it
left in ``sys.modules`` and which of Ray, Optuna, matplotlib and TensorFlow it loaded.
``--root DIR`` measures another checkout's ``mlpkg`` (e.g. an older tree exported with
``git archive``) for comparison.

    nice -n 10 .venv/bin/python bench/tune/bench_params_from.py --repeat 5 [--root /tmp/old]
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
import tempfile

from _machine import describe_machine

PROBE = (
    "import json, sys, time; t = time.perf_counter(); "
    "from mlpkg.pipelines.tune import apply_tuned_params, tuned_params; "
    "s = time.perf_counter() - t; "
    "print(json.dumps({'s': s, 'modules': len(sys.modules), 'heavy': [m for m in "
    "('ray', 'optuna', 'matplotlib', 'tensorflow') if m in sys.modules], "
    "'file': sys.modules['mlpkg'].__file__}))"
)


def one_run(root: Path) -> dict[str, object]:
    """One fresh interpreter importing the reader from ``root``'s ``mlpkg``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as cwd:  # not the repository: '' must not shadow root
        done = subprocess.run(
            [sys.executable, "-c", PROBE],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Measure and print one table row."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    runs = [one_run(args.root.resolve()) for _ in range(args.repeat)]
    seconds = [float(r["s"]) for r in runs]  # type: ignore[arg-type]
    print(f"mlpkg from {runs[0]['file']}")
    print(
        f"| import the best-trial reader | median {statistics.median(seconds):.2f} s "
        f"(range {min(seconds):.2f}-{max(seconds):.2f}, {args.repeat} runs) | "
        f"{runs[0]['modules']} modules | heavy: {', '.join(runs[0]['heavy']) or 'none'} | "  # type: ignore[arg-type]
        f"load {os.getloadavg()[0]:.1f} |"
    )
    print(describe_machine())


if __name__ == "__main__":
    main()
