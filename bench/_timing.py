"""Timings for the bench scripts: wall seconds per call and the process's CPU seconds."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import numpy as np


def per_call(func: Callable[[], object], calls: int, warmup: int) -> np.ndarray:
    """Wall time of each of ``calls`` calls in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        func()
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        func()
        times[i] = time.perf_counter() - start
    return times


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its threads so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
