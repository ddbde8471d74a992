"""Ray session helpers: a clear error for an unreachable cluster, thread caps per worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from support import free_port

from mlpkg.errors import ClusterUnavailableError
from mlpkg.pipelines.cluster import THREAD_ENV, check_reachable, ray_session


def test_an_unreachable_address_fails_fast_with_what_to_do():
    import ray

    address = f"127.0.0.1:{free_port()}"
    started = time.perf_counter()
    with (
        pytest.raises(ClusterUnavailableError, match=r"ray start --head.*RAY_ADDRESS"),
        ray_session(address),
    ):
        pass
    assert time.perf_counter() - started < 10
    assert not ray.is_initialized()


def test_ray_address_from_the_environment_is_used(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{free_port()}")
    with pytest.raises(ClusterUnavailableError, match=r"127\.0\.0\.1"), ray_session():
        pass


def test_check_reachable_accepts_auto_and_rejects_garbage():
    check_reachable("auto")
    with pytest.raises(ClusterUnavailableError):
        check_reachable("ray://nohost.invalid:10001")


def test_limit_threads_caps_blas_openmp_and_tensorflow_pools():
    code = (
        "import json, os\n"
        "from mlpkg.pipelines.cluster import THREAD_ENV, limit_threads\n"
        "import numpy\n"
        "limit_threads(1)\n"
        "from threadpoolctl import threadpool_info\n"
        "print(json.dumps({'env': {k: os.environ[k] for k in THREAD_ENV},\n"
        "                  'pools': [p['num_threads'] for p in threadpool_info()]}))\n"
    )
    # Without the suite's own one-thread settings (the Makefile sets them): limit_threads must.
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(seen["env"].values()) == {"1"}
    assert seen["env"]["TF_NUM_INTRAOP_THREADS"] == seen["env"]["OMP_NUM_THREADS"] == "1"
    assert seen["pools"] and set(seen["pools"]) == {1}
