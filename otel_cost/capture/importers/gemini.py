"""Gemini CLI chat recordings: ``~/.gemini/tmp/<project>/chats/session-*``.

Two forms exist. Gemini CLI up to 0.38 rewrites one JSON document per session
(``{sessionId, startTime, messages: [...]}``) on every change. From 0.39 it
appends JSON lines: a header with ``sessionId`` and ``startTime``, then one
line per message write. A message is written again under the same ``id`` when
its token counts or tool calls arrive, so every write of one message maps to
the same event id and the store keeps the revision with the most tokens.
``$set`` (metadata) and ``$rewindTo`` lines carry no new calls and are skipped.
A rewind does not remove cost because the rewound calls were already billed.

Only ``gemini`` messages with ``tokens`` and a ``model`` are calls.
``tokens.input`` includes ``tokens.cached``, and ``tokens.thoughts`` is
outside ``tokens.output``. Subagent sessions live in
``chats/<parent session id>/<session id>.jsonl``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from otel_cost import config
from otel_cost.capture.importers.base import (
    Importer,
    ParseResult,
    env_path,
    iter_complete_lines,
)
from otel_cost.errors import UsageFormatError
from otel_cost.events import CostEvent
from otel_cost.normalise.usage import from_gemini

logger = logging.getLogger(__name__)

HARNESS = "gemini"
# The OpenTelemetry GenAI name of the Gemini API. NOTE: Vertex AI users are
# recorded under it too, because the chat files do not name the backend.
PROVIDER = "gcp.gemini"
# Numeric timestamps are epoch milliseconds, and smaller values are not real times.
MIN_EPOCH_MS = 1_000_000_000_000
MAX_LINE_ERRORS = 5
LINE_ERRORS = (orjson.JSONDecodeError, UsageFormatError, ValueError, TypeError)


@dataclass
class SessionContext:
    """Session attributes shared by every event of one chat file."""

    session_id: str
    project: str
    parent_session_id: str = ""
    start_time: str = ""

    @classmethod
    def from_state(cls, state: dict[str, Any], path: Path) -> SessionContext:
        """Rebuild the context saved with a byte offset, ignoring unknown keys."""
        context = cls.for_path(path)
        for key, value in state.items():
            if key in cls.__dataclass_fields__ and isinstance(value, str):
                setattr(context, key, value)
        return context

    @classmethod
    def for_path(cls, path: Path) -> SessionContext:
        """Derive the context a file's location implies, before its header is read."""
        chats = path.parent
        parent_session_id = ""
        if chats.name != "chats":
            # chats/<parent session id>/<session id>.jsonl contains a subagent.
            parent_session_id = chats.name
            chats = chats.parent
        return cls(
            session_id=path.stem,
            project=chats.parent.name,
            parent_session_id=parent_session_id,
        )


class GeminiImporter(Importer):
    """Imports Gemini CLI chat recordings, single JSON and JSON lines."""

    name = HARNESS
    # NOTE: single-JSON files are rewritten whole, but the runner reads this flag
    # per importer, not per file. So parse() re-reads a ``.json`` file from byte 0.
    whole_file = False

    def default_roots(self) -> list[Path]:
        """Return the Gemini CLI directory that contains ``tmp/``.

        ``OTEL_COST_GEMINI_DIR`` names that directory itself. ``GEMINI_CLI_HOME``
        replaces the home directory, as in Gemini CLI, so the directory is
        ``$GEMINI_CLI_HOME/.gemini``. The default is ``~/.gemini``.
        """
        own = env_path(config.ENV_OTEL_COST_GEMINI_DIR)
        if own is not None:
            return [own]
        gemini_home = env_path(config.ENV_GEMINI_DIR)
        if gemini_home is not None:
            return [gemini_home / ".gemini"]
        return [config.home() / ".gemini"]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield session files under ``<root>/tmp/<project>/chats``."""
        tmp = root / "tmp"
        if not tmp.is_dir():
            return
        for project in _subdirectories(tmp):
            chats = project / "chats"
            if not chats.is_dir():
                continue
            yield from sorted(chats.glob("session-*.json"))
            yield from sorted(chats.glob("session-*.jsonl"))
            for parent in _subdirectories(chats):
                yield from sorted(parent.glob("*.jsonl"))

    def is_whole_file(self, path: Path) -> bool:
        """Return True for the older single-JSON sessions, which are rewritten whole."""
        return path.suffix == ".json"

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read a single-JSON file whole, or the new lines of a JSONL file."""
        if path.suffix == ".json":
            return _parse_document(path)
        return _parse_lines(path, start, state)


def _subdirectories(parent: Path) -> list[Path]:
    return sorted(child for child in parent.iterdir() if child.is_dir())


def _parse_document(path: Path) -> ParseResult:
    data = path.read_bytes()
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # The file may be caught mid-rewrite. Offset 0 re-reads it on its next change.
        return ParseResult(offset=0, bad_lines=1, errors=[f"invalid JSON: {exc}"])
    if not isinstance(document, dict) or not isinstance(document.get("messages"), list):
        return ParseResult(
            offset=0,
            errors=[
                "not a Gemini CLI session: expected an object with a messages list"
            ],
        )
    context = SessionContext.for_path(path)
    _read_header(document, context)
    result = ParseResult(offset=len(data))
    messages = document["messages"]
    _collect(
        ((f"message {number}", message) for number, message in enumerate(messages, 1)),
        context,
        result,
    )
    return result


def _parse_lines(path: Path, start: int, state: dict[str, Any]) -> ParseResult:
    context = SessionContext.from_state(state, path)
    result = ParseResult(offset=start)
    records: list[tuple[str, Any]] = []
    for number, (end, line) in enumerate(iter_complete_lines(path, start), 1):
        result.offset = end
        label = f"line {number} after byte {start}"
        try:
            records.append((label, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            result.add_error(f"{label}: {exc}", MAX_LINE_ERRORS)
    _collect(records, context, result)
    result.state = vars(context).copy()
    return result


def _collect(
    records: Iterable[tuple[str, Any]],
    context: SessionContext,
    result: ParseResult,
) -> None:
    # Writes of one message in this batch fold into one event: the most
    # tokens, at the first write's time.
    events: dict[str, CostEvent] = {}
    for label, record in records:
        try:
            event = _record_event(record, label, context)
        except LINE_ERRORS as exc:
            result.add_error(f"{label}: {exc}", MAX_LINE_ERRORS)
            continue
        if event is None:
            continue
        seen = events.get(event.event_id)
        if seen is None:
            events[event.event_id] = event
        elif event.usage.total_tokens > seen.usage.total_tokens:
            events[event.event_id] = event.replace(ts=seen.ts)
    result.events = list(events.values())


def _record_event(record: Any, label: str, context: SessionContext) -> CostEvent | None:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if "$set" in record or "$rewindTo" in record:
        return None
    if "type" in record:
        return _message_event(record, label, context)
    if isinstance(record.get("sessionId"), str):
        _read_header(record, context)
    return None


def _read_header(header: dict[str, Any], context: SessionContext) -> None:
    session_id = header.get("sessionId")
    if isinstance(session_id, str) and session_id:
        context.session_id = session_id
    start_time = header.get("startTime")
    if isinstance(start_time, str):
        context.start_time = start_time


def _message_event(
    message: dict[str, Any], label: str, context: SessionContext
) -> CostEvent | None:
    tokens = message.get("tokens")
    model = message.get("model")
    if message.get("type") != "gemini" or not isinstance(tokens, dict):
        return None
    if not isinstance(model, str) or not model:
        return None
    # NOTE: tokens.tool (tool-use prompt tokens) is not priced.
    usage = from_gemini(tokens)
    if usage.total_tokens == 0:
        return None
    return CostEvent(
        event_id=f"{HARNESS}:{context.session_id}:{_message_key(message, label)}",
        ts=_message_time(message.get("timestamp"), context),
        harness=HARNESS,
        source="import",
        session_id=context.session_id,
        parent_session_id=context.parent_session_id,
        provider=PROVIDER,
        model_requested=model,
        model=model,
        project=context.project,
        operation="chat",
        usage=usage,
    )


def _message_key(message: dict[str, Any], label: str) -> str:
    message_id = message.get("id")
    if isinstance(message_id, str) and message_id:
        return message_id
    if label.startswith("message "):
        # A single-JSON file is rewritten with earlier messages unchanged, so
        # a message's position there is stable enough to stand in for its id.
        return label.replace(" ", "-")
    raise ValueError("missing id on a gemini message")


def _message_time(value: Any, context: SessionContext) -> datetime:
    if isinstance(value, str) and value:
        return _parse_time(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value >= MIN_EPOCH_MS:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
    if context.start_time:
        return _parse_time(context.start_time)
    raise ValueError("message has no valid timestamp and the session has no startTime")


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return parsed
