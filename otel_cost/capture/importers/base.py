"""The importer framework: discovery, incremental reads and the import run.

An importer turns one agent's session files into cost events. The framework
remembers, per file, how many bytes were consumed and the decoder state at
that point, so a second run reads only what was appended. Offsets only ever
advance past complete lines, so a line the agent is still writing is read
on the next run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_cost.events import CostEvent

logger = logging.getLogger(__name__)

# A file whose first bytes change was rewritten, not appended to.
FINGERPRINT_BYTES = 4096
# SQLite files: their header changes on every commit, so importers keep a row
# watermark in their state instead of a byte offset.
DATABASE_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3", ".vscdb"})


@dataclass
class FileState:
    """How far one file has been imported."""

    path: str
    size: int = 0
    mtime_ns: int = 0
    fingerprint: str = ""
    offset: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    bad_lines: int = 0


@dataclass
class ParseResult:
    """The events, end offset and decoder state from parsing one file or its new tail."""

    events: list[CostEvent] = field(default_factory=list)
    offset: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    bad_lines: int = 0
    errors: list[str] = field(default_factory=list)

    def add_error(self, message: str, max_listed: int | None = None) -> None:
        """Count one unusable line or record and keep its message.

        With ``max_listed`` only the messages of the first ``max_listed`` bad
        lines are kept, so one damaged file cannot flood the report.
        """
        self.bad_lines += 1
        if max_listed is None or self.bad_lines <= max_listed:
            self.errors.append(message)


class Importer(ABC):
    """Reads one agent's session files into cost events."""

    #: Harness name stored on every event, also the CLI name of the importer.
    name: str = ""
    #: True when files are rewritten whole (single JSON) rather than appended.
    whole_file: bool = False

    @abstractmethod
    def default_roots(self) -> list[Path]:
        """Return the directories this agent writes to, overrides applied."""

    @abstractmethod
    def discover(self, root: Path) -> Iterator[Path]:
        """Yield the session files under ``root``."""

    @abstractmethod
    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Parse ``path`` from byte ``start`` with the decoder ``state`` saved there."""

    def is_whole_file(self, path: Path) -> bool:
        """Return True when ``path`` is rewritten whole rather than appended to."""
        return self.whole_file

    def is_database(self, path: Path) -> bool:
        """Return True when ``path`` is a SQLite database read by row watermark."""
        return path.suffix in DATABASE_SUFFIXES

    def sort_key(self, path: Path) -> tuple[int, str]:
        """Order files so originals come before the files that copy them."""
        try:
            return (path.stat().st_mtime_ns, str(path))
        except OSError:
            return (0, str(path))


def fingerprint(path: Path, length: int = FINGERPRINT_BYTES) -> str:
    """Return ``"<n>:<digest>"`` of the first ``n <= length`` bytes of a file.

    Recording ``n`` lets a later run hash the same prefix of a file that has
    grown since, so an append is distinguished from a rewrite.
    """
    with open(path, "rb") as handle:
        head = handle.read(length)
    return f"{len(head)}:{hashlib.blake2b(head, digest_size=8).hexdigest()}"


def same_prefix(path: Path, recorded: str) -> bool:
    """Return True when the file still starts with the bytes ``recorded`` hashed."""
    length_text, _, _ = recorded.partition(":")
    if not length_text.isdigit():
        return False
    return fingerprint(path, int(length_text)) == recorded


def iter_complete_lines(path: Path, start: int) -> Iterator[tuple[int, bytes]]:
    """Yield ``(end_offset, line)`` for each complete line from byte ``start``.

    A final line without a newline is not yielded: the agent may still be
    writing it.
    """
    with open(path, "rb") as handle:
        handle.seek(start)
        offset = start
        for line in handle:
            if not line.endswith(b"\n"):
                return
            offset += len(line)
            yield offset, line


def read_tail(path: Path, start: int) -> tuple[bytes, int]:
    """Return the complete lines after ``start`` as one buffer, and its end offset."""
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read()
    end = data.rfind(b"\n") + 1
    return data[:end], start + end


def env_path(name: str) -> Path | None:
    """Return the path in environment variable ``name``, if set."""
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None
