"""Write tests/module_seconds.json from a JUnit XML report: the seconds each test module took.

Usage: ``python scripts/test_durations.py REPORT.xml [OUT.json]``. ``make durations`` runs the
whole suite with ``--junitxml`` and then this; ``tests/schedule.py`` orders the modules by it.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "module_seconds.json"


def module_path(classname: str, root: Path = ROOT) -> str:
    """``tests/a/test_b.py`` of a JUnit classname ``tests.a.test_b`` or ``tests.a.test_b.TestC``."""
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        candidate = "/".join(parts[:end]) + ".py"
        if (root / candidate).is_file():
            return candidate
    return "/".join(parts) + ".py"


def module_seconds(report: Path) -> dict[str, float]:
    """Seconds per test module (setup, call and teardown of its tests), longest first."""
    seconds: dict[str, float] = defaultdict(float)
    for case in ElementTree.parse(report).iter("testcase"):
        module = module_path(case.get("classname", ""))
        seconds[module] += float(case.get("time", "0"))
    ranked = sorted(seconds.items(), key=lambda kv: -kv[1])
    return {module: round(value, 1) for module, value in ranked}


def main(argv: list[str]) -> int:
    """Read ``argv[0]`` (JUnit XML), write ``argv[1]`` (default tests/module_seconds.json)."""
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    out.write_text(json.dumps(module_seconds(Path(argv[0])), indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
