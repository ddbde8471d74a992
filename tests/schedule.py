"""Heaviest modules first: the order the suite's modules are handed to the xdist workers.

``make test`` runs ``--dist loadfile --no-loadscope-reorder``: each module goes whole to one
worker (its module fixtures are built once), in collection order. xdist's own reorder sorts by the
number of tests, which put the single-test end-to-end modules (tens of seconds each) last, so one
worker ran them alone at the end. Here the modules are sorted by their measured seconds
(``tests/module_seconds.json``, written by ``make durations`` from a whole run), the longest
first: the longest-processing-time-first rule that keeps two workers busy to the end. A module
missing from the file (new) counts as 0 s and goes last; the order only schedules, it changes no
test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TypeVar

SECONDS_FILE = Path(__file__).with_name("module_seconds.json")


class _Item(Protocol):
    nodeid: str


T = TypeVar("T", bound=_Item)


def module_of(nodeid: str) -> str:
    """``tests/a/test_b.py`` of ``tests/a/test_b.py::test_c[x]``."""
    return nodeid.split("::", 1)[0]


def load_seconds(path: Path = SECONDS_FILE) -> dict[str, float]:
    """The measured seconds per module; empty when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def heaviest_first(items: Sequence[T], seconds: dict[str, float]) -> list[T]:
    """``items`` with whole modules sorted by ``seconds``, longest first; stable otherwise.

    Each module's tests stay together and in their order; modules of equal (or unknown) cost keep
    their collection order.
    """
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(module_of(item.nodeid), index)

    def key(item: T) -> tuple[float, int]:
        module = module_of(item.nodeid)
        return (-seconds.get(module, 0.0), first_seen[module])

    return sorted(items, key=key)
