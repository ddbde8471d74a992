"""The leader lease: one holder at a time, released when its holder's process dies (kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from support import poll_until

from mlpkg.serving.lease import LeaderLease, leader_pid

HOLD = """
import sys, time
from mlpkg.serving.lease import LeaderLease
lease = LeaderLease(sys.argv[1])
assert lease.try_acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_one_holder_at_a_time_and_release_hands_it_over(tmp_path):
    path = tmp_path / "leader.lock"
    first, second = LeaderLease(path), LeaderLease(path)
    assert first.try_acquire() and first.held
    assert not second.try_acquire() and not second.held
    assert leader_pid(path) == os.getpid()
    first.release()
    first.release()  # idempotent
    assert second.try_acquire()
    second.release()


def test_a_killed_holder_releases_the_lease(tmp_path):
    path = tmp_path / "leader.lock"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        follower = LeaderLease(path)
        assert not follower.try_acquire()
        assert leader_pid(path) == holder.pid
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        poll_until(follower.try_acquire, timeout=5, what="the lease after kill -9")
        assert leader_pid(path) == os.getpid()
        follower.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
