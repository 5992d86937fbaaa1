"""An exclusive lock on an embedded store, so only one process opens it.

chDB holds its data directory for the life of the process and a second
process fails deep inside the engine, so otel-cost takes an advisory lock
first and reports the owner clearly.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO, NoReturn

from otel_cost.errors import StoreLockedError


class StoreLock:
    """An advisory ``flock`` on ``<store>.lock``, held until released."""

    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + ".lock")
        self._handle: IO[str] | None = None

    def acquire(self, wait_s: float = 3.0) -> None:
        """Take the lock, waiting up to ``wait_s`` for a short command to finish.

        Raises `StoreLockedError` naming the holder when the wait runs out.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._raise_locked(handle)
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def _raise_locked(self, handle: IO[str]) -> NoReturn:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StoreLockedError(
            f"the embedded store {str(self.path.with_suffix(''))!r} is in use by "
            f"another otel-cost process (pid {holder}); stop that process, or "
            "pass --db with another store"
        )

    def release(self) -> None:
        """Drop the lock if held."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
