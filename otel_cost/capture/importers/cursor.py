"""Cursor chats: ``User/globalStorage/state.vscdb`` in Cursor's data directory.

The database is a key-value table, ``cursorDiskKV``. ``composerData:<id>``
contains one conversation ("composer") with the order of its messages, and
``bubbleId:<composer id>:<bubble id>`` contains one message ("bubble"): ``type``
1 is the user, 2 the assistant. Older builds keep the messages inline, in the
composer's ``conversation`` list.

One event is made per assistant bubble. Cursor records real token counts
(``tokenCount``) only in some builds; most bubbles carry zeros. Where a count
is missing or zero it is estimated at four characters per token: output from
the reply text (with its thinking text), and input from every message before
it in the conversation, because each request sends the conversation so far.
The estimate leaves out the system prompt, attached files and tool results,
and prices no cache reads, so it is usually low. Such events have the cost
status ``estimated`` and the attribute ``usage_estimate``.

Requests made in Auto mode record no model. They are priced as
``OTEL_COST_CURSOR_AUTO_MODEL`` (default ``claude-sonnet-4-5``), and the
event keeps ``auto`` as the requested model and names the stand-in in the
attribute ``model_stand_in``.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from otel_cost import config
from otel_cost.capture.importers.base import Importer, ParseResult
from otel_cost.capture.importers.discovery import (
    app_support_dir,
    choose_root,
    open_sqlite_readonly,
)
from otel_cost.errors import UsageFormatError
from otel_cost.events import CostEvent, CostStatus, TokenCategory, Usage
from otel_cost.normalise.usage import count

logger = logging.getLogger(__name__)

HARNESS = "cursor"
PROVIDER = "cursor"
DATABASE_PATH = Path("User") / "globalStorage" / "state.vscdb"
CHARS_PER_TOKEN = 4
USER_BUBBLE = 1
ASSISTANT_BUBBLE = 2
AUTO_MODELS = {"", "auto", "default"}
DEFAULT_AUTO_MODEL = "claude-sonnet-4-5"
# Cursor writes Claude ids as claude-4.5-sonnet[-thinking], and the rate card
# as claude-sonnet-4-5.
CURSOR_CLAUDE = re.compile(r"^claude-(\d+)(?:\.(\d+))?-([a-z]+)(?:-thinking)?$")
# Numeric times are epoch milliseconds, and smaller values are not real times.
MIN_EPOCH_MS = 1_000_000_000_000
MAX_REPORTED_ERRORS = 5
RECORD_ERRORS = (orjson.JSONDecodeError, UsageFormatError, ValueError, TypeError)


class CursorImporter(Importer):
    """Imports Cursor chat history from its global ``state.vscdb``."""

    name = HARNESS
    env_vars = (config.ENV_OTEL_COST_CURSOR_DIR,)
    whole_file = False

    def default_roots(self) -> list[Path]:
        """Return Cursor's data directory, or the one ``OTEL_COST_CURSOR_DIR`` names."""
        return [choose_root(self.env_vars, app_support_dir() / "Cursor").path]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield the global ``state.vscdb`` under ``root``."""
        for candidate in (root / DATABASE_PATH, root / "globalStorage" / "state.vscdb"):
            if candidate.is_file():
                yield candidate
                return

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read every conversation with a key written since the saved row id."""
        result = ParseResult(offset=0)
        last_rowid = int(state.get("last_rowid", 0))
        workspaces = path.parent.parent / "workspaceStorage"
        try:
            with open_sqlite_readonly(path) as connection:
                new_rowid = _read_conversations(
                    connection, last_rowid, workspaces, result
                )
        except sqlite3.Error as exc:
            result.events = []
            result.errors.append(f"cannot read cursorDiskKV: {exc}")
            new_rowid = last_rowid
        result.state = {"last_rowid": new_rowid}
        return result

    def count_sessions(self, path: Path) -> int | None:
        """Return the number of conversations in the database."""
        with open_sqlite_readonly(path) as connection:
            row = connection.execute(
                "SELECT count(*) FROM cursorDiskKV "
                "WHERE key >= 'composerData:' AND key < 'composerData;'"
            ).fetchone()
        return int(row[0])


def _read_conversations(
    connection: sqlite3.Connection,
    last_rowid: int,
    workspaces: Path,
    result: ParseResult,
) -> int:
    # NOTE: Cursor replaces a key's row on every write (the key column is
    # UNIQUE ON CONFLICT REPLACE), so a changed key gets a new, higher rowid.
    # An in-place UPDATE would not, and would be missed until a full re-read.
    top = connection.execute("SELECT max(rowid) FROM cursorDiskKV").fetchone()[0] or 0
    changed = _changed_composers(connection, last_rowid)
    projects = composer_projects(workspaces) if changed else {}
    for composer_id in sorted(changed):
        try:
            events = _composer_events(connection, composer_id)
        except RECORD_ERRORS as exc:
            result.add_error(f"composer {composer_id}: {exc}", MAX_REPORTED_ERRORS)
            continue
        for event in events:
            event.project = projects.get(composer_id, "")
        result.events.extend(events)
    return int(top)


def composer_projects(workspaces: Path) -> dict[str, str]:
    """Map composer ids to the folder name of the workspace they were opened in.

    Each ``workspaceStorage/<hash>`` directory names its folder in
    ``workspace.json`` and lists its composers under the ``ItemTable`` key
    ``composer.composerData`` of its own ``state.vscdb``.
    """
    projects: dict[str, str] = {}
    if not workspaces.is_dir():
        return projects
    for workspace in sorted(workspaces.iterdir()):
        project = _workspace_name(workspace / "workspace.json")
        database = workspace / "state.vscdb"
        if not project or not database.is_file():
            continue
        try:
            for composer_id in _workspace_composers(database):
                projects[composer_id] = project
        except (sqlite3.Error, OSError, *RECORD_ERRORS) as exc:
            logger.warning(
                "cannot read Cursor workspace %s, so its conversations have no "
                "project: %s",
                workspace,
                exc,
            )
    return projects


def _workspace_name(path: Path) -> str:
    try:
        workspace = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return ""
    target = _object(workspace).get("folder") or _object(workspace).get("workspace")
    if not isinstance(target, str):
        return ""
    # A folder is a file:// URI, and a multi-root workspace is named by its
    # .code-workspace file.
    location = Path(urllib.parse.unquote(urllib.parse.urlparse(target).path))
    return location.stem if location.suffix == ".code-workspace" else location.name


def _workspace_composers(database: Path) -> list[str]:
    with open_sqlite_readonly(database) as connection:
        row = connection.execute(
            "SELECT value FROM ItemTable WHERE key = 'composer.composerData'"
        ).fetchone()
    if row is None or row[0] is None:
        return []
    listed = _object(orjson.loads(row[0])).get("allComposers")
    if not isinstance(listed, list):
        return []
    return [
        str(item["composerId"])
        for item in listed
        if isinstance(item, dict) and item.get("composerId")
    ]


def _changed_composers(connection: sqlite3.Connection, last_rowid: int) -> set[str]:
    rows = connection.execute(
        "SELECT key FROM cursorDiskKV WHERE rowid > ? AND ("
        "(key >= 'composerData:' AND key < 'composerData;') OR "
        "(key >= 'bubbleId:' AND key < 'bubbleId;'))",
        (last_rowid,),
    )
    return {str(key).split(":")[1] for (key,) in rows if str(key).count(":") >= 1}


def _composer_events(
    connection: sqlite3.Connection, composer_id: str
) -> list[CostEvent]:
    composer = _load_json(connection, f"composerData:{composer_id}") or {}
    bubbles = _ordered_bubbles(connection, composer_id, composer)
    events: list[CostEvent] = []
    context_chars = 0
    for bubble in bubbles:
        if bubble.get("type") == ASSISTANT_BUBBLE:
            event = _bubble_event(composer_id, composer, bubble, context_chars)
            if event is not None:
                events.append(event)
        context_chars += len(_bubble_text(bubble))
    return events


def _load_json(connection: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    row = connection.execute(
        "SELECT value FROM cursorDiskKV WHERE key = ?", (key,)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    value = orjson.loads(row[0])
    if not isinstance(value, dict):
        raise ValueError(
            f"invalid value of {key}: expected a JSON object, got {type(value).__name__}"
        )
    return value


def _ordered_bubbles(
    connection: sqlite3.Connection, composer_id: str, composer: Mapping[str, Any]
) -> list[dict[str, Any]]:
    inline = composer.get("conversation")
    if isinstance(inline, list) and inline:
        return [bubble for bubble in inline if isinstance(bubble, dict)]
    rows = connection.execute(
        "SELECT key, value FROM cursorDiskKV WHERE key >= ? AND key < ?",
        (f"bubbleId:{composer_id}:", f"bubbleId:{composer_id};"),
    )
    by_id: dict[str, dict[str, Any]] = {}
    for key, value in rows:
        bubble = orjson.loads(value) if value is not None else None
        if isinstance(bubble, dict):
            by_id[str(key).rsplit(":", 1)[1]] = bubble
    headers = composer.get("fullConversationHeadersOnly")
    order = (
        [
            str(header.get("bubbleId"))
            for header in headers
            if isinstance(header, dict) and header.get("bubbleId") in by_id
        ]
        if isinstance(headers, list)
        else []
    )
    # Bubbles the headers do not list follow in creation order.
    listed = set(order)
    rest = sorted(
        (bubble_id for bubble_id in by_id if bubble_id not in listed),
        key=lambda bubble_id: str(by_id[bubble_id].get("createdAt") or ""),
    )
    return [by_id[bubble_id] for bubble_id in [*order, *rest]]


def _bubble_text(bubble: Mapping[str, Any]) -> str:
    text = bubble.get("text")
    parts = [text if isinstance(text, str) else ""]
    thinking = bubble.get("thinking")
    if isinstance(thinking, dict) and isinstance(thinking.get("text"), str):
        parts.append(thinking["text"])
    return "".join(parts)


def _bubble_event(
    composer_id: str,
    composer: Mapping[str, Any],
    bubble: Mapping[str, Any],
    context_chars: int,
) -> CostEvent | None:
    usage, estimated = _bubble_usage(bubble, context_chars)
    if usage.total_tokens == 0:
        return None
    bubble_id = str(bubble.get("bubbleId") or bubble.get("requestId") or "")
    if not bubble_id:
        raise ValueError("assistant bubble has no bubbleId")

    requested, model, stand_in = _models(composer, bubble)
    attributes: dict[str, str] = {}
    if estimated:
        attributes["usage_estimate"] = f"estimated: characters / {CHARS_PER_TOKEN}"
    if stand_in:
        attributes["model_stand_in"] = f"Auto mode priced as {model}"
    # The registry keeps ESTIMATED when it prices the event.
    status = CostStatus.ESTIMATED if estimated or stand_in else CostStatus.UNPRICED

    return CostEvent(
        event_id=f"{HARNESS}:{composer_id}:{bubble_id}",
        ts=_bubble_time(bubble, composer),
        harness=HARNESS,
        source="import",
        session_id=composer_id,
        provider=PROVIDER,
        model_requested=requested,
        model=model,
        operation="chat",
        usage=usage,
        attributes=attributes,
        cost_status=status,
    )


def _bubble_usage(bubble: Mapping[str, Any], context_chars: int) -> tuple[Usage, bool]:
    """Return the bubble's usage and whether any count in it is estimated."""
    counted = _object(bubble.get("tokenCount"))
    input_tokens = count(counted.get("inputTokens"), "tokenCount.inputTokens")
    output_tokens = count(counted.get("outputTokens"), "tokenCount.outputTokens")
    estimated = input_tokens == 0 or output_tokens == 0
    if input_tokens == 0:
        input_tokens = _estimate_tokens(context_chars)
    if output_tokens == 0:
        output_tokens = _estimate_tokens(len(_bubble_text(bubble)))
    tokens = {TokenCategory.INPUT: input_tokens, TokenCategory.OUTPUT: output_tokens}
    return Usage(
        tokens={key: value for key, value in tokens.items() if value}
    ), estimated


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _estimate_tokens(chars: int) -> int:
    # Four characters per token, rounded up: a rule of thumb for English text
    # and code, not a count by the model's tokenizer.
    return -(-chars // CHARS_PER_TOKEN)


def _models(
    composer: Mapping[str, Any], bubble: Mapping[str, Any]
) -> tuple[str, str, bool]:
    """Return the requested model, the rate-card model and whether it is a stand-in."""
    info = _object(bubble.get("modelInfo"))
    config_info = composer.get("modelConfig")
    fallback = config_info.get("modelName") if isinstance(config_info, dict) else None
    requested = str(info.get("modelName") or fallback or "")
    if requested.lower() in AUTO_MODELS:
        stand_in = os.environ.get(config.ENV_OTEL_COST_CURSOR_AUTO_MODEL)
        return requested or "auto", stand_in or DEFAULT_AUTO_MODEL, True
    match = CURSOR_CLAUDE.match(requested)
    if match:
        major, minor, family = match.groups()
        version = f"{major}-{minor}" if minor else major
        return requested, f"claude-{family}-{version}", False
    return requested, requested, False


def _bubble_time(bubble: Mapping[str, Any], composer: Mapping[str, Any]) -> datetime:
    for value in (
        bubble.get("createdAt"),
        composer.get("lastUpdatedAt"),
        composer.get("createdAt"),
    ):
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value >= MIN_EPOCH_MS:
                return datetime.fromtimestamp(value / 1000, tz=UTC)
    raise ValueError("bubble has no createdAt and the composer has no time")
