"""Ray, quietly: start an embedded local Ray, or join a cluster; limit each worker's threads.

``ray_session()`` starts Ray on this machine with its cores (no dashboard, worker output not
forwarded to the console, Ray's loggers at ERROR) and shuts it down at the end. With an
address (``--address`` / ``RAY_ADDRESS``: ``host:6379``, ``ray://host:10001`` or ``auto``) it
joins that cluster instead, after a quick reachability check (Ray itself would retry for
minutes), and only disconnects at the end. A session that is already connected
(a notebook, a test fixture) is reused and left running.

``limit_threads(n)`` caps the BLAS/OpenMP pools and TensorFlow's intra/inter-op pools of a
worker process to the ``n`` CPUs Ray reserved for the trial or task, so concurrent trials do not
oversubscribe the cores.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mlpkg.errors import ClusterUnavailableError

log = logging.getLogger(__name__)

QUIET_ENV: dict[str, str] = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_DEDUP_LOGS": "0",
}
"""Environment defaults that keep Ray's console output to what mlpkg logs."""
_RAY_LOGGERS = ("ray", "ray.tune", "ray.air", "ray.train", "ray.data", "ray.util")
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)
"""Variables that size the thread pools of BLAS, OpenMP and TensorFlow."""
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Cluster:
    """The Ray cluster a session runs on."""

    address: str
    embedded: bool
    cpus: int
    nodes: int


def quiet_ray() -> None:
    """Set Ray's environment defaults and logger levels so only errors reach the console."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for name in _RAY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("ray.tune.execution.tune_controller").setLevel(logging.CRITICAL)


def check_reachable(address: str) -> None:
    """Fail fast when a ``host:port`` (or ``ray://host:port``) address does not answer.

    Raises:
        ClusterUnavailableError: if nothing listens there.
    """
    if address == "auto" or address.startswith("local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or address, int(port)), timeout=CONNECT_TIMEOUT_S):
            return
    except (OSError, ValueError) as exc:
        raise ClusterUnavailableError(
            f"Cannot reach the Ray cluster at {address!r} ({exc}). Start it (`ray start --head` "
            "on the head node, or a KubeRay RayCluster) and pass its GCS address host:6379 with "
            "--address or RAY_ADDRESS; omit both to run on this machine."
        ) from exc


def _connect(address: str | None, num_cpus: int | None) -> None:
    import ray

    options = {"log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": False}
    if address:
        check_reachable(address)
        ray.init(address=address, **options)  # type: ignore[arg-type]
        return
    ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **options)  # type: ignore[arg-type]


def _cluster(address: str | None) -> Cluster:
    import ray

    nodes = [node for node in ray.nodes() if node.get("Alive")]  # type: ignore[no-untyped-call]
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    return Cluster(address or "embedded", embedded=not address, cpus=cpus, nodes=len(nodes))


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Cluster]:
    """Run the block on Ray: the cluster at ``address`` / ``RAY_ADDRESS``, else embedded.

    Args:
        address: A Ray address; None reads ``RAY_ADDRESS``; neither starts Ray locally.
        num_cpus: CPUs of an embedded Ray (default: every core of this machine).

    Raises:
        ClusterUnavailableError: if the cluster cannot be reached or joined.
    """
    import ray

    quiet_ray()
    if ray.is_initialized():
        yield _cluster(address)
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        _connect(address, num_cpus)
    except ClusterUnavailableError:
        raise
    except Exception as exc:  # version mismatch, refused authentication, ...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ClusterUnavailableError(
            f"Cannot join the Ray cluster at {address!r}: {reason}. The cluster must run "
            "ray==2.60.0 and Python 3.11 like this machine; to join a token-authenticated "
            "cluster set RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or "
            "~/.ray/auth_token)."
        ) from exc
    cluster = _cluster(address)
    log.info("Ray: %s, %d node(s), %d CPU(s)", cluster.address, cluster.nodes, cluster.cpus)
    try:
        yield cluster
    finally:
        ray.shutdown()


def limit_threads(cpus: int) -> None:
    """Cap this process's BLAS/OpenMP and TensorFlow thread pools to ``cpus`` threads."""
    from threadpoolctl import threadpool_limits

    for key in THREAD_ENV:
        os.environ[key] = str(cpus)
    threadpool_limits(limits=cpus)
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(cpus)
            tf.config.threading.set_inter_op_parallelism_threads(cpus)
        except RuntimeError:  # already initialised in this process: the pools keep their size
            log.debug("TensorFlow threads already set in this process")
