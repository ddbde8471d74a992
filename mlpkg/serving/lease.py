"""The leader lease: exactly one API process runs the live loop, the scheduler and the job runner.

``mlpkg serve --workers N`` starts N processes that all answer HTTP and WebSocket. Each one
tries to take an exclusive ``flock`` on ``leader.lock`` beside the prediction store every
``LEASE_POLL_S``; the one that holds it is the leader. The operating system releases the lock
when its holder's process ends however it ends (kill -9 included), so another worker becomes
leader within ``LEASE_POLL_S`` (plus the time to start its loop), with no expiry to tune and no
clock to trust. The file holds the leader's pid, for people and tests.

Why ``fcntl.flock`` rather than a lease row with a heartbeat in SQLite: a row needs an expiry
(a dead leader blocks its successor until it passes, and a slow live one may lose it while it
still writes), where a lock held by the kernel ends exactly when its process does. It works on
one machine; several machines need a lease in a shared database (``docs/distributed.md``).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

LEASE_POLL_S = 0.5
"""How often a follower tries to take the lease."""


class LeaderLease:
    """An exclusive, non-blocking ``flock`` on a file; held until ``release`` or process exit.

    Args:
        path: The lock file (created if missing; its content is the holder's pid).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lease."""
        return self._file is not None

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this process holds it (never blocks)."""
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        log.info("process %d holds the leader lease %s", os.getpid(), self.path)
        return True

    def release(self) -> None:
        """Give the lease up (idempotent)."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def leader_pid(path: Path) -> int | None:
    """The pid written by the current or last leader (``None`` when there is none)."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
