"""One description of the machine a benchmark ran on (shared by every bench script)."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo ("unknown CPU" elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def describe_machine() -> str:
    """One line: cores, CPU, RAM, Python, load average and the UTC date of the measurement."""
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        f"nproc {os.cpu_count()}, {cpu_model()}, {mem_gib:.1f} GiB RAM, "
        f"Python {platform.python_version()}, load average {load}, measured {date}"
    )


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
