"""Fixtures of the Ray tests: an embedded Ray per module, and no Ray daemon may outlive it."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import psutil
import pytest

RAY_DAEMONS = ("raylet", "gcs_server")
RAY_TEST_ENV = {
    # The raylet's default 60 s start wait timed out on this 2-core machine at load 9-12.
    "RAY_raylet_start_wait_time_s": "180",
    # Ray prestarts one idle Python worker per CPU when the first driver connects (about 2 s
    # of CPU each, to import Ray). A tune's trials never use them (each trial is an actor with
    # its own runtime_env, hence its own worker process), so the tests' Rays start none.
    "RAY_prestart_worker_first_driver": "0",
}
"""Ray settings of the tests' embedded Rays (``ray_local``'s and a ``mlpkg tune`` subprocess's)."""


def ray_daemons(root: psutil.Process | None = None) -> list[psutil.Process]:
    """Live (not zombie) raylet/gcs_server processes started under ``root`` (default: us)."""
    root = root or psutil.Process()
    found = []
    for child in root.children(recursive=True):
        try:
            if child.name() in RAY_DAEMONS and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def group_members(pgid: int) -> list[psutil.Process]:
    """Live processes of a process group (a subprocess started with start_new_session)."""
    members = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def kill_group(pgid: int) -> list[psutil.Process]:
    """SIGKILL what is left of a process group we started; return what survived 30 s."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return []
    _, alive = psutil.wait_procs(group_members(pgid), timeout=30)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """An embedded 2-CPU Ray for the module; afterwards no raylet or gcs_server may remain."""
    import ray

    from mlpkg.pipelines.cluster import ray_session

    assert not ray.is_initialized()
    for key, value in RAY_TEST_ENV.items():
        os.environ.setdefault(key, value)
    with ray_session(num_cpus=2):
        yield
    _, alive = psutil.wait_procs(ray_daemons(), timeout=30)
    assert not alive, f"Ray daemons outlived ray.shutdown(): {alive}"
