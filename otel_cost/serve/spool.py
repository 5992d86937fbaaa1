"""An append-only disk spool (a write-ahead journal) of accepted events.

The service appends every accepted request here before acknowledging it
(``--ack journal``), or only the events the store could not take yet
(``--ack store``). The spool is a directory of segment files named by a
growing sequence number. Each record is ``length (4 bytes) | crc32 (4 bytes) | payload``, and
an append returns only after ``fsync``, so a record that was acknowledged is
complete on disk. A crash can leave a partial record at the end of the last
segment; it was never acknowledged, and replay stops there. Segments are
replayed oldest first and deleted once every record in them is stored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from otel_cost.errors import OtelCostError

logger = logging.getLogger(__name__)

HEADER = struct.Struct(">II")
SUFFIX = ".spool"
#: Size at which the segment being written is closed and a new one started.
SEGMENT_BYTES = 16 * 2**20
#: The same for a journal, which the writer deletes segment by segment behind
#: its inserts: small segments leave little stored data to replay after a crash.
JOURNAL_SEGMENT_BYTES = 4 * 2**20
#: Default cap on the whole spool; appends beyond it fail (clients retry).
DEFAULT_MAX_BYTES = 2 * 2**30


class SpoolFullError(OtelCostError):
    """The spool is at its size limit."""


class SpoolError(OtelCostError):
    """The spool directory cannot be written."""


@dataclass(frozen=True)
class SpoolMark:
    """The end of one appended record: its segment's number and size after it."""

    segment: int
    offset: int
    #: How many records this spool object appended up to this one.
    sequence: int = 0


@dataclass(frozen=True)
class SpoolRecord:
    """One record read back from a segment."""

    segment: Path
    payload: bytes


class Spool:
    """Append records durably; read and remove them segment by segment."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._active: Path | None = None
        self._active_number = 0
        self._active_bytes = 0
        self._handle: int | None = None
        # Records appended, and records known to be on disk, by this object.
        self._appended = 0
        self._synced = 0
        self._sync_lock = threading.Lock()
        # Handles of full segments, and whether a segment file was created,
        # since the last sync; and the last record whose fsync failed.
        self._retired: list[int] = []
        self._new_files = False
        self._failed_through = 0
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(
                f"cannot create the spool directory {str(directory)!r}: {exc}"
            ) from exc
        self._size = sum(path.stat().st_size for path in self.segments())

    def segments(self) -> list[Path]:
        """Return the segment files, oldest first."""
        return sorted(self.directory.glob(f"*{SUFFIX}"))

    @property
    def size_bytes(self) -> int:
        """Bytes held by all segments."""
        return self._size

    def is_empty(self) -> bool:
        """Return True when no segment contains a record."""
        return self._size == 0

    def append(self, payload: bytes, sync: bool = True) -> SpoolMark:
        """Write one record and fsync it; raise `SpoolFullError` or `SpoolError`.

        Returns the record's end, which `release` takes once it is stored.
        With ``sync`` False the caller calls `sync` itself, which lets
        records appended meanwhile by other threads share one fsync.
        """
        record = HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._size + len(record) > self.max_bytes:
                raise SpoolFullError(
                    f"the spool at {str(self.directory)!r} contains {self._size} bytes, "
                    f"at its limit of {self.max_bytes}"
                )
            try:
                handle = self._writable()
                os.write(handle, record)
            except OSError as exc:
                # The next append starts a new segment (and directory, if it
                # was removed) instead of failing on this one again.
                self._abandon_active()
                raise SpoolError(
                    f"cannot write the spool {str(self.directory)!r}: {exc}"
                ) from exc
            self._size += len(record)
            self._active_bytes += len(record)
            self._appended += 1
            mark = SpoolMark(self._active_number, self._active_bytes, self._appended)
            if self._active_bytes >= self.segment_bytes:
                # Its records reach the disk with the next `sync`, outside this lock.
                self._retired.append(self._handle_or_raise())
                self._forget_active()
        if sync:
            self.sync(mark)
        return mark

    def sync(self, mark: SpoolMark) -> None:
        """Return once every record up to ``mark`` is on disk; raise `SpoolError`.

        One thread fsyncs at a time, for every record appended before it
        started, so threads that wait meanwhile usually find theirs done.
        """
        with self._sync_lock:
            with self._lock:
                if mark.sequence <= self._failed_through:
                    raise SpoolError(
                        f"cannot write the spool {str(self.directory)!r}: an fsync failed"
                    )
                if self._synced >= mark.sequence:
                    return
                target = self._appended
                retired, self._retired = self._retired, []
                new_files, self._new_files = self._new_files, False
                # A copy of the handle stays valid if the segment is closed
                # meanwhile (closing syncs it too).
                handle = os.dup(self._handle) if self._handle is not None else None
            handles = [*retired, *([handle] if handle is not None else [])]
            try:
                for handle_copy in handles:
                    os.fsync(handle_copy)
                if new_files:
                    _fsync_directory(self.directory)
            except OSError as exc:
                with self._lock:
                    self._failed_through = max(self._failed_through, target)
                raise SpoolError(
                    f"cannot write the spool {str(self.directory)!r}: {exc}"
                ) from exc
            finally:
                for handle_copy in handles:
                    os.close(handle_copy)
            with self._lock:
                self._synced = max(self._synced, target)

    def release(self, mark: SpoolMark) -> None:
        """Delete the segments whose records all end at or before ``mark``.

        The writer calls this once everything up to ``mark`` is stored. When
        nothing was appended after ``mark``, the segment being written goes
        too, so an idle journal has no file.
        """
        with self._lock:
            if (
                self._active_number == mark.segment
                and self._active_bytes == mark.offset
            ):
                # Everything in it is stored, so it needs no fsync.
                self._drop_active()
            for segment in self.segments():
                number = _segment_number(segment)
                if number is None or number > mark.segment or segment == self._active:
                    continue
                if number == mark.segment and segment.stat().st_size != mark.offset:
                    continue
                size = segment.stat().st_size
                segment.unlink()
                self._size = max(self._size - size, 0)
            # The directory is not synced: a stored segment that comes back
            # after a crash is only replayed again, and the writer skips it.

    def seal(self) -> None:
        """Close the segment being written, so replay can take it whole."""
        with self._lock:
            self._close_active()

    def read(self, segment: Path) -> Iterator[SpoolRecord]:
        """Yield the complete records of one sealed segment, in order."""
        data = segment.read_bytes()
        offset = 0
        while offset + HEADER.size <= len(data):
            length, checksum = HEADER.unpack_from(data, offset)
            payload = data[offset + HEADER.size : offset + HEADER.size + length]
            if len(payload) < length or zlib.crc32(payload) != checksum:
                break
            yield SpoolRecord(segment, payload)
            offset += HEADER.size + length
        if offset < len(data):
            logger.warning(
                "spool segment %s ends with %d bytes of an unfinished record; "
                "they were never acknowledged and are skipped",
                segment.name,
                len(data) - offset,
            )

    def remove(self, segment: Path) -> None:
        """Delete a segment whose records are all stored."""
        with self._lock:
            if segment == self._active:
                self._close_active()
            size = segment.stat().st_size
            segment.unlink()
            self._size = max(self._size - size, 0)
            _fsync_directory(self.directory)

    def set_aside(self, segment: Path, folder: str) -> Path:
        """Move a segment the store keeps rejecting out of the replay order."""
        with self._lock:
            if segment == self._active:
                self._close_active()
            target_dir = self.directory / folder
            target_dir.mkdir(exist_ok=True)
            target = target_dir / segment.name
            copies = 1
            while target.exists():
                # Sequence numbers restart once the spool is empty.
                copies += 1
                target = target_dir / f"{segment.stem}.{copies}{SUFFIX}"
            size = segment.stat().st_size
            segment.rename(target)
            self._size = max(self._size - size, 0)
            _fsync_directory(self.directory)
        return target

    def close(self) -> None:
        """Close the segment being written."""
        self.seal()

    def _writable(self) -> int:
        if self._handle is None:
            # Recreated should someone have removed it while the service ran.
            self.directory.mkdir(parents=True, exist_ok=True)
            numbers = [_segment_number(path) for path in self.segments()]
            # Numbers keep growing while the service runs, also after the
            # journal was emptied, so a mark never names a newer segment.
            self._active_number = (
                max([self._active_number, *(n for n in numbers if n is not None)]) + 1
            )
            self._active = self.directory / f"{self._active_number:012d}{SUFFIX}"
            self._handle = os.open(
                self._active, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
            )
            self._active_bytes = os.fstat(self._handle).st_size
            # The next `sync` makes the new file's name durable.
            self._new_files = True
        return self._handle

    def _handle_or_raise(self) -> int:
        if self._handle is None:
            raise SpoolError(f"no segment is open in {str(self.directory)!r}")
        return self._handle

    def _forget_active(self) -> None:
        self._handle = None
        self._active = None
        self._active_bytes = 0

    def _drop_active(self) -> None:
        """Close every handle without fsync, because their records are all stored."""
        for handle in [*self._retired, *([self._handle] if self._handle else [])]:
            with contextlib.suppress(OSError):
                os.close(handle)
        self._retired = []
        self._synced = self._appended
        self._forget_active()

    def _abandon_active(self) -> None:
        with contextlib.suppress(OSError):
            self._close_active()
        self._handle = None
        self._active = None
        self._active_bytes = 0

    def probe(self) -> str | None:
        """Return why no segment can be written now, or None when one can."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=self.directory, suffix=".probe")
            try:
                os.fsync(handle)
            finally:
                os.close(handle)
                os.unlink(name)
        except OSError as exc:
            return f"cannot write the spool {str(self.directory)!r}: {exc}"
        return None

    def _close_active(self) -> None:
        handles = [
            *self._retired,
            *([self._handle] if self._handle is not None else []),
        ]
        self._retired = []
        try:
            for handle in handles:
                os.fsync(handle)
            if self._new_files:
                _fsync_directory(self.directory)
                self._new_files = False
        finally:
            for handle in handles:
                os.close(handle)
            self._forget_active()
        self._synced = self._appended


def _segment_number(path: Path) -> int | None:
    return int(path.stem) if path.stem.isdigit() else None


def _fsync_directory(directory: Path) -> None:
    # A new or removed file survives a crash only once its directory is synced.
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
