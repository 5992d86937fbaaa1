"""OpenCode history: the ``opencode*.db`` SQLite database and the older JSON files.

Current OpenCode releases keep sessions, messages and parts in SQLite tables
``session``, ``message`` and ``part`` under ``$XDG_DATA_HOME/opencode``
(``~/.local/share/opencode`` on Linux and macOS). Earlier releases wrote one
JSON file per record under ``storage/session/<project>/<session>.json`` and
``storage/message/<session>/<message>.json``. Both layouts key a message by the
same session and message ids, so a history that exists in both is counted once.

Each assistant message is one event. A subtask runs in a child session whose
``parent_id`` points at the session that started it. Its messages are filed
under the root session (``session_id``), with the direct parent kept in
``parent_session_id`` and the child's own id in ``attributes``. OpenCode's own
cost of a message is kept as ``reported_cost_usd`` beside ours.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from otel_cost import config
from otel_cost.capture.importers.base import Importer, ParseResult, env_path
from otel_cost.capture.importers.discovery import (
    open_sqlite_readonly,
    table_columns,
    xdg_data_dir,
)
from otel_cost.capture.importers.record_fields import (
    RECORD_ERRORS,
    as_mapping,
    canonical_usage,
    cost_usd,
    epoch_time,
    project_name,
    text,
    tokens,
)
from otel_cost.events import CostEvent, TokenCategory, Usage

logger = logging.getLogger(__name__)

HARNESS = "opencode"
DATABASE_GLOB = "opencode*.db"
MESSAGE_GLOB = "message/*/*.json"
SESSION_GLOB = "session/*/*.json"
# Guards the walk up ``parent_id`` links against a cycle in a damaged database.
MAX_SESSION_DEPTH = 64
WATERMARK = "message_time_updated"
# Assistant messages seen before their response finished, re-read every run.
UNFINISHED = "unfinished_messages"
MAX_UNFINISHED = 500


@dataclass(frozen=True)
class SessionInfo:
    """The parts of an OpenCode session row that attribute its messages."""

    session_id: str
    parent_id: str
    directory: str


SessionIndex = Mapping[str, SessionInfo]


class OpenCodeImporter(Importer):
    """Imports OpenCode assistant messages from SQLite and the JSON layout."""

    name = HARNESS

    def __init__(self) -> None:
        # Session files of each JSON storage directory, read once per run.
        self._json_sessions: dict[Path, dict[str, SessionInfo]] = {}

    def default_roots(self) -> list[Path]:
        """Return ``$OTEL_COST_OPENCODE_DIR`` or ``$XDG_DATA_HOME/opencode``."""
        override = env_path(config.ENV_OTEL_COST_OPENCODE_DIR)
        if override is not None:
            return [override]
        return [xdg_data_dir() / "opencode"]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield the databases in ``root`` and the message files of its storage."""
        yield from sorted(root.glob(DATABASE_GLOB))
        storage = root / "storage" if (root / "storage").is_dir() else root
        yield from sorted(storage.glob(MESSAGE_GLOB))

    def is_whole_file(self, path: Path) -> bool:
        """Return True for message files, which OpenCode rewrites whole."""
        return path.suffix == ".json"

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read a database (from the saved watermark) or one message file."""
        if path.suffix == ".db":
            return parse_database(path, state, HARNESS)
        return self._parse_message_file(path)

    def _parse_message_file(self, path: Path) -> ParseResult:
        # <storage>/message/<session>/<message>.json
        result = ParseResult(offset=0)
        sessions = self._sessions_of(path.parents[2])
        try:
            data = as_mapping(orjson.loads(path.read_bytes()), "message")
            event = message_event(
                text(data.get("id")) or path.stem,
                text(data.get("sessionID")) or path.parent.name,
                data,
                sessions,
                None,
                HARNESS,
            )
        except RECORD_ERRORS as exc:
            result.add_error(f"message {path.stem}: {exc}")
            return result
        if event is not None:
            result.events.append(event)
        return result

    def _sessions_of(self, storage: Path) -> dict[str, SessionInfo]:
        if storage not in self._json_sessions:
            self._json_sessions[storage] = _read_session_files(storage)
        return self._json_sessions[storage]


def _read_session_files(storage: Path) -> dict[str, SessionInfo]:
    sessions: dict[str, SessionInfo] = {}
    for path in storage.glob(SESSION_GLOB):
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            logger.info("skipping unreadable OpenCode session file %s: %s", path, exc)
            continue
        if isinstance(data, dict):
            session_id = text(data.get("id")) or path.stem
            sessions[session_id] = SessionInfo(
                session_id, text(data.get("parentID")), text(data.get("directory"))
            )
    return sessions


def parse_database(path: Path, state: dict[str, Any], harness: str) -> ParseResult:
    """Read the messages of an OpenCode-schema database changed since ``state``.

    Kilo Code's ``kilo.db`` uses the same schema, so ``harness`` names the
    agent the events are filed under.
    """
    result = ParseResult(offset=0, state=dict(state))
    try:
        _read_database(path, state, result, harness)
    except sqlite3.Error as exc:
        result.errors.append(f"cannot read the database: {exc}")
    return result


def _read_database(
    path: Path, state: dict[str, Any], result: ParseResult, harness: str
) -> None:
    with open_sqlite_readonly(path) as connection:
        tables = _table_names(connection)
        if "message" not in tables:
            newer = ""
            if "session_v2" in tables:
                newer = " (found session_v2, a newer layout)"
            result.errors.append(
                f"no message table{newer}; this OpenCode schema is not supported"
            )
            return
        sessions = _read_session_rows(connection)
        unfinished: list[str] = []
        for row in _message_rows(connection, state, result):
            if _add_row_event(row, sessions, result, harness):
                unfinished.append(str(row[0]))
        # Message ids grow with time, so the cap keeps the newest.
        result.state[UNFINISHED] = sorted(unfinished)[-MAX_UNFINISHED:]


def _table_names(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(row[0]) for row in rows}


def _read_session_rows(connection: sqlite3.Connection) -> dict[str, SessionInfo]:
    columns = table_columns(connection, "session")
    if "id" not in columns:
        return {}
    parent = "parent_id" if "parent_id" in columns else "NULL"
    directory = "directory" if "directory" in columns else "NULL"
    rows = connection.execute(f"SELECT id, {parent}, {directory} FROM session")
    return {
        str(row[0]): SessionInfo(str(row[0]), text(row[1]), text(row[2]))
        for row in rows
    }


def _message_rows(
    connection: sqlite3.Connection, state: dict[str, Any], result: ParseResult
) -> Iterator[tuple[Any, ...]]:
    columns = table_columns(connection, "message")
    missing = {"id", "session_id", "data"} - columns
    if missing:
        result.errors.append(
            f"message table lacks {', '.join(sorted(missing))}; "
            "this OpenCode schema is not supported"
        )
        return
    created = "time_created" if "time_created" in columns else "NULL"
    updated = "time_updated" if "time_updated" in columns else "NULL"
    sql = f"SELECT id, session_id, data, {created}, {updated} FROM message"
    parameters: list[Any] = []
    watermark = state.get(WATERMARK)
    if updated != "NULL" and isinstance(watermark, int):
        # A message row is rewritten as its response streams, so rows are
        # selected by last update, not by insertion. ">=" re-reads the rows of
        # the watermark's own millisecond, and the store skips those repeats.
        # Unfinished messages are read again even if their update time stayed.
        pending = [str(i) for i in state.get(UNFINISHED, [])][:MAX_UNFINISHED]
        sql += " WHERE time_updated >= ?"
        parameters.append(watermark)
        if pending:
            sql += f" OR id IN ({', '.join('?' for _ in pending)})"
            parameters.extend(pending)
    for row in connection.execute(sql, parameters):
        if isinstance(row[4], int):
            result.state[WATERMARK] = max(result.state.get(WATERMARK, 0), row[4])
        yield row


def _add_row_event(
    row: tuple[Any, ...], sessions: SessionIndex, result: ParseResult, harness: str
) -> bool:
    # Returns True for an assistant message whose response has not finished.
    message_id, session_id, raw, time_created = row[0], row[1], row[2], row[3]
    try:
        data = as_mapping(orjson.loads(raw), "message.data")
        event = message_event(
            str(message_id), str(session_id), data, sessions, time_created, harness
        )
    except RECORD_ERRORS as exc:
        result.add_error(f"message {message_id}: {exc}")
        return False
    if event is not None:
        result.events.append(event)
    times = data.get("time")
    finished = isinstance(times, Mapping) and times.get("completed") is not None
    return data.get("role") == "assistant" and not finished


def message_event(
    message_id: str,
    session_id: str,
    data: Mapping[str, Any],
    sessions: SessionIndex,
    row_created: Any,
    harness: str,
) -> CostEvent | None:
    """Return the event of one assistant message, None for other messages.

    A message still streaming has no tokens yet. It is skipped, and a later
    import reads it once finished.
    """
    if data.get("role") != "assistant" or data.get("tokens") is None:
        return None
    usage = opencode_usage(as_mapping(data["tokens"], "tokens"))
    reported = cost_usd(data.get("cost"), "cost")
    if usage.total_tokens == 0 and not reported:
        return None
    raw_times = data.get("time")
    times: Mapping[str, Any] = raw_times if isinstance(raw_times, Mapping) else {}
    created = times.get("created", row_created)
    root, parent = _lineage(session_id, sessions)
    directory = _directory(session_id, root, sessions, data)
    model = text(data.get("modelID")) or text(data.get("model"))
    return CostEvent(
        event_id=f"{harness}:{session_id}:{message_id}",
        ts=epoch_time(created, "time.created"),
        harness=harness,
        source="import",
        session_id=root,
        parent_session_id=parent,
        provider=text(data.get("providerID")),
        model_requested=model,
        model=model,
        project=project_name(directory),
        latency_ms=_latency_ms(times),
        outcome="error" if data.get("error") else "ok",
        error_type=_error_name(data.get("error")),
        usage=usage,
        attributes=_attributes(session_id, root, directory, data),
        reported_cost_usd=reported,
    )


def opencode_usage(token_counts: Mapping[str, Any]) -> Usage:
    """Convert OpenCode's ``tokens`` object into canonical categories.

    OpenCode's convention: ``input`` excludes cache reads and writes (OpenCode's
    ``getUsage`` subtracts them from the provider's input before saving),
    and ``cache.write`` is one number. It is priced as a 5-minute write, the
    provider default, because the row does not say which lifetime was used.
    ``reasoning`` is outside
    ``output`` in current releases, but older ones saved the provider's output
    with reasoning inside. Those are recognised by ``total``: when the other
    fields already add up to it, reasoning is part of ``output``.
    """
    cache = as_mapping(token_counts.get("cache") or {}, "tokens.cache")
    uncached = tokens(token_counts, "input", "tokens.input")
    output = tokens(token_counts, "output", "tokens.output")
    reasoning = tokens(token_counts, "reasoning", "tokens.reasoning")
    read = tokens(cache, "read", "tokens.cache.read")
    write = tokens(cache, "write", "tokens.cache.write")
    total = token_counts.get("total")
    inside = isinstance(total, int) and total == uncached + output + read + write
    if reasoning and inside and output >= reasoning:
        output -= reasoning
    return canonical_usage(
        {
            TokenCategory.INPUT: uncached,
            TokenCategory.CACHE_READ: read,
            TokenCategory.CACHE_WRITE_5M: write,
            TokenCategory.OUTPUT: output,
            TokenCategory.REASONING: reasoning,
        }
    )


def _lineage(session_id: str, sessions: SessionIndex) -> tuple[str, str]:
    # Returns (root session, direct parent or "" for a root session).
    info = sessions.get(session_id)
    parent = info.parent_id if info else ""
    root = session_id
    for _ in range(MAX_SESSION_DEPTH):
        current = sessions.get(root)
        if current is None or not current.parent_id:
            break
        root = current.parent_id
    return root, parent


def _directory(
    session_id: str, root: str, sessions: SessionIndex, data: Mapping[str, Any]
) -> str:
    for key in (session_id, root):
        info = sessions.get(key)
        if info and info.directory:
            return info.directory
    paths = data.get("path")
    if isinstance(paths, Mapping):
        return text(paths.get("cwd")) or text(paths.get("root"))
    return ""


def _latency_ms(times: Mapping[str, Any]) -> int:
    created, completed = times.get("created"), times.get("completed")
    if isinstance(created, int) and isinstance(completed, int) and completed >= created:
        return completed - created
    return 0


def _error_name(error: Any) -> str:
    if isinstance(error, Mapping):
        return text(error.get("name"))
    return ""


def _attributes(
    session_id: str, root: str, directory: str, data: Mapping[str, Any]
) -> dict[str, str]:
    attributes: dict[str, str] = {}
    if directory:
        attributes["cwd"] = directory
    if session_id != root:
        attributes["opencode_session_id"] = session_id
    agent = text(data.get("agent")) or text(data.get("mode"))
    if agent:
        attributes["agent"] = agent
    return attributes
