"""Hook read progress per transcript, kept in a small locked JSON file.

Hooks of one agent run in parallel, so the read-emit-save cycle takes an
exclusive lock. A call that cannot get it in time skips, and the next call
reads what it missed.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from otel_cost import config

LOCK_WAIT_S = 2.0
#: Event ids remembered per transcript, newest kept, to skip unchanged re-reads.
MAX_SENT_IDS = 20_000


class ProgressBusyError(TimeoutError):
    """Another hook call holds the progress lock."""


def progress_dir() -> Path:
    """Return the directory of hook progress files."""
    return config.data_dir() / "hooks"


@contextmanager
def locked_progress(harness: str) -> Iterator[dict[str, Any]]:
    """Yield the progress of one agent's transcripts; saved when the block succeeds."""
    directory = progress_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{harness}.json"
    with open(directory / f"{harness}.lock", "a+", encoding="utf-8") as handle:
        _lock(handle)
        progress = _load(path)
        yield progress
        _save(path, progress)


def _lock(handle: IO[str]) -> None:
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise ProgressBusyError(
                    f"hook progress is locked by another call for over {LOCK_WAIT_S} s"
                ) from None
            time.sleep(0.02)


def _load(path: Path) -> dict[str, Any]:
    try:
        loaded = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _save(path: Path, progress: dict[str, Any]) -> None:
    for entry in progress.values():
        sent = entry.get("sent", {})
        if len(sent) > MAX_SENT_IDS:
            entry["sent"] = dict(list(sent.items())[-MAX_SENT_IDS:])
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_bytes(orjson.dumps(progress))
    os.replace(temporary, path)
