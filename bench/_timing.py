"""Per-call wall times for the micro-benchmarks (shared by the bench scripts)."""

from __future__ import annotations

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
