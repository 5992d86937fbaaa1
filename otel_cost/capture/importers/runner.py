"""Running importers against the store: progress, pricing and batched writes."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from otel_cost.capture.importers.base import (
    FileState,
    Importer,
    fingerprint,
    same_prefix,
)
from otel_cost.capture.importers.discovery import sqlite_signature
from otel_cost.events import CostEvent
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store.connection import Store
from otel_cost.store.pricing_versions import record_pricing_versions
from otel_cost.store.writer import WriteResult, write_events

logger = logging.getLogger(__name__)

WRITE_BATCH = 20_000
PROGRESS_COLUMNS = [
    "importer", "path", "size", "mtime_ns", "fingerprint", "offset", "state",
    "events", "bad_lines", "updated_at",
]  # fmt: skip
MAX_REPORTED_ERRORS = 20


@dataclass
class ImportSummary:
    """Counts and added cost of one importer's run."""

    importer: str
    roots: list[str] = field(default_factory=list)
    files: int = 0
    files_read: int = 0
    events: int = 0
    inserted: int = 0
    replaced: int = 0
    duplicates: int = 0
    bad_lines: int = 0
    unpriced_events: int = 0
    cost_usd: Decimal = Decimal(0)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of the summary."""
        return {
            "importer": self.importer,
            "roots": self.roots,
            "files": self.files,
            "files_read": self.files_read,
            "events": self.events,
            "inserted": self.inserted,
            "replaced": self.replaced,
            "duplicates_skipped": self.duplicates,
            "bad_lines_skipped": self.bad_lines,
            "unpriced_events": self.unpriced_events,
            "cost_usd": self.cost_usd,
            "errors": self.errors[:MAX_REPORTED_ERRORS],
        }


class ImportRun:
    """Import files of one importer into a store, pricing every event."""

    def __init__(
        self, store: Store, registry: PricingRegistry, importer: Importer
    ) -> None:
        self.store = store
        self.registry = registry
        self.importer = importer
        self.summary = ImportSummary(importer=importer.name)
        self._pending: list[CostEvent] = []
        self._pending_states: list[FileState] = []

    def run(self, roots: Sequence[Path] | None = None) -> ImportSummary:
        """Import every file found under ``roots`` (default: the agent's own)."""
        explicit = bool(roots)
        roots = list(roots) if roots else self.importer.default_roots()
        self.summary.roots = [str(root) for root in roots]
        if explicit:
            for root in roots:
                if not root.exists():
                    self._error(f"{root}: not found")
        files = sorted(self._discover(roots), key=self.importer.sort_key)
        self.summary.files = len(files)
        progress = load_progress(self.store, self.importer.name)
        for path in files:
            self._import_file(path, progress.get(_clean(str(path))))
        self._flush()
        if self.summary.files_read:
            record_pricing_versions(self.store, self.registry)
        return self.summary

    def _discover(self, roots: Iterable[Path]) -> Iterable[Path]:
        seen: set[Path] = set()
        for root in roots:
            if not root.exists():
                continue
            if not root.is_dir():
                self._error(f"{root}: is not a directory; give the agent's folder")
                continue
            for path in self.importer.discover(root):
                resolved = path.resolve()
                if resolved not in seen:
                    seen.add(resolved)
                    yield resolved

    def _import_file(self, path: Path, previous: FileState | None) -> None:
        database = self.importer.is_database(path)
        try:
            size, mtime_ns = sqlite_signature(path) if database else _signature(path)
            head = fingerprint(path)
        except OSError as exc:
            self._error(f"{path}: cannot read: {exc.strerror}")
            return
        if previous and previous.size == size and previous.mtime_ns == mtime_ns:
            return
        start, state = 0, {}
        appended = previous is not None and (
            database
            or (
                not self.importer.is_whole_file(path)
                and size >= previous.offset
                and same_prefix(path, previous.fingerprint)
            )
        )
        if appended and previous is not None:
            start, state = previous.offset, dict(previous.state)
        try:
            result = self.importer.parse(path, start, state)
        except Exception as exc:  # one broken file must never stop the others
            self._error(f"{path}: cannot import: {type(exc).__name__}: {exc}")
            return
        self.summary.files_read += 1
        self.summary.bad_lines += result.bad_lines
        for message in result.errors:
            self._error(f"{path}: {message}")
        for event in result.events:
            _clean_text_fields(event)
            try:
                self.registry.price_event(event)
            except ValueError as exc:  # the event is kept, unpriced
                self._error(f"{path}: event {event.event_id}: {exc}")
        self._pending.extend(result.events)
        self._pending_states.append(
            FileState(
                path=str(path),
                size=size,
                mtime_ns=mtime_ns,
                fingerprint=head,
                offset=result.offset,
                state=result.state,
                events=(previous.events if appended and previous else 0)
                + len(result.events),
                bad_lines=(previous.bad_lines if appended and previous else 0)
                + result.bad_lines,
            )
        )
        if len(self._pending) >= WRITE_BATCH:
            self._flush()

    def _flush(self) -> None:
        # Events first, progress second: a crash in between re-reads the tail,
        # and the writer skips what it already stored.
        if self._pending:
            result = write_events(self.store, self._pending)
            self._count(result, self._pending)
        save_progress(self.store, self.importer.name, self._pending_states)
        self._pending = []
        self._pending_states = []

    def _count(self, result: WriteResult, events: list[CostEvent]) -> None:
        self.summary.events += len(events)
        self.summary.inserted += result.inserted
        self.summary.replaced += result.replaced
        self.summary.duplicates += len(events) - result.inserted - result.replaced
        self.summary.cost_usd += result.cost_usd
        self.summary.unpriced_events += result.unpriced

    def _error(self, message: str) -> None:
        logger.info("import %s: %s", self.importer.name, message)
        self.summary.errors.append(message)


def _clean(text: str) -> str:
    # File names that are not UTF-8 reach Python as surrogate escapes, which
    # the store cannot encode; the bad bytes are written as \xNN instead.
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(str(key)): _clean_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean_json(item) for item in value]
    return value


def _clean_text_fields(event: CostEvent) -> None:
    event.session_id = _clean(event.session_id)
    event.parent_session_id = _clean(event.parent_session_id)
    event.project = _clean(event.project)
    # Most attributes are ASCII, so the dictionary is rebuilt only when needed.
    if not all(
        key.isascii() and value.isascii() for key, value in event.attributes.items()
    ):
        event.attributes = {
            _clean(key): _clean(value) for key, value in event.attributes.items()
        }


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def load_progress(store: Store, importer: str) -> dict[str, FileState]:
    """Return the saved progress of every file of one importer."""
    rows = store.query(
        "SELECT path, size, mtime_ns, fingerprint, offset, state, events, bad_lines "
        "FROM import_progress FINAL WHERE importer = %(importer)s",
        {"importer": importer},
    )
    return {
        row[0]: FileState(
            path=row[0],
            size=row[1],
            mtime_ns=row[2],
            fingerprint=row[3],
            offset=row[4],
            state=orjson.loads(row[5]) if row[5] else {},
            events=row[6],
            bad_lines=row[7],
        )
        for row in rows
    }


def save_progress(store: Store, importer: str, states: list[FileState]) -> None:
    """Record how far each file has been read."""
    now = datetime.now(UTC)
    rows = [
        [
            importer,
            _clean(state.path),
            state.size,
            state.mtime_ns,
            state.fingerprint,
            state.offset,
            orjson.dumps(_clean_json(state.state)).decode(),
            state.events,
            state.bad_lines,
            now,
        ]  # fmt: skip
        for state in states
    ]
    store.insert("import_progress", rows, PROGRESS_COLUMNS)
