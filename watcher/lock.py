"""One run at a time: an exclusive flock beside the database.

flock is released by the kernel when the process dies, even by SIGKILL, so a
crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from watcher.errors import LockBusy
from watcher.paths import private_dir


@contextmanager
def run_lock(db_path: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock for the database at ``db_path``; wait up to ``wait`` seconds for it."""
    lock_path = db_path.with_name(db_path.name + ".lock")
    private_dir(lock_path.parent)
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(lock_path)
                    raise LockBusy(
                        f"another watcher run is in progress{holder} (lock {lock_path}); "
                        "it will finish on its own — try again later, or pass --wait SECONDS"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def _read_holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
