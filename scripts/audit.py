"""``make lint``'s dependency audit: fail on a known vulnerability, say so when it cannot audit.

Runs ``pip-audit --format json`` over the environment (the editable project skipped) and
reads its answer: any known vulnerability fails (exit 1, each one printed with its fix
versions); dependencies pip-audit could not look up (offline, or an index without PyPI's JSON
API) are counted and the audit says it skipped them (exit 0): a skipped audit is reported,
never passed off as a clean one. pip-audit failing outright (no JSON) fails too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")
COMMAND = [str(PIP_AUDIT), "--format", "json", "--progress-spinner", "off", "--skip-editable"]


def _fixes(vuln: dict[str, Any]) -> str:
    return ", ".join(vuln.get("fix_versions", [])) or "none yet"


def judge(report: dict[str, Any]) -> tuple[int, list[str]]:
    """The exit status and the lines to print for one ``pip-audit --format json`` report."""
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    lines = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {_fixes(v)})"
        for d in vulnerable
        for v in d["vulns"]
    ]
    if skipped:
        lines.append(
            f"pip-audit skipped {len(skipped)} of {len(dependencies)} dependencies (could not look "
            f"them up: offline or no PyPI JSON API), e.g. {skipped[0]['skip_reason']}"
        )
    if vulnerable:
        lines.append(f"pip-audit: {len(vulnerable)} vulnerable dependencies; upgrade their pins.")
        return 1, lines
    audited = len(dependencies) - len(skipped)
    if audited == 0:
        lines.append("pip-audit: SKIPPED, nothing could be audited (no vulnerability database).")
    else:
        lines.append(f"pip-audit: no known vulnerability in the {audited} dependencies audited.")
    return 0, lines


def main() -> int:
    """Run the audit; return the exit status (1 on a vulnerability or a broken pip-audit)."""
    done = subprocess.run(COMMAND, capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        print(f"pip-audit failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        return 1
    status, lines = judge(report)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
