"""Zed agent threads: ``threads/threads.db`` in Zed's data directory.

Each row of the ``threads`` table is one thread, rewritten whole on every
change. ``data`` contains the thread as JSON, zstd-compressed when ``data_type``
is ``zstd``. Zed records usage twice: ``request_token_usage`` maps each user
message id to the usage of the last model request of that turn, and
``cumulative_token_usage`` adds up every request of the thread. Both follow
the Anthropic convention, with input exclusive of cache reads and writes.

One event is made per user message. A remainder event per thread carries the
part of the cumulative total that no user message accounts for (the earlier
requests of each agent loop), so a thread's events add up to its total. The
thread records no per-request times, so each event is stamped with the
thread's ``updated_at`` when it is first seen.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import zstandard

from otel_cost import config
from otel_cost.capture.importers.base import Importer, ParseResult
from otel_cost.capture.importers.discovery import (
    choose_root,
    is_macos,
    open_sqlite_readonly,
    table_columns,
    xdg_data_dir,
)
from otel_cost.errors import UsageFormatError
from otel_cost.events import CostEvent, Usage
from otel_cost.normalise.usage import from_anthropic

logger = logging.getLogger(__name__)

HARNESS = "zed"
DATABASE_NAME = "threads.db"
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
# Zed's provider ids mapped to OpenTelemetry GenAI provider names.
PROVIDER_NAMES = {"anthropic": "anthropic", "openai": "openai", "google": "gcp.gemini"}
# Zed's Anthropic model ids end in these suffixes, and rate-card ids do not.
MODEL_SUFFIXES = ("-latest", "-thinking")
MAX_REPORTED_ERRORS = 5
RECORD_ERRORS = (
    zstandard.ZstdError,
    orjson.JSONDecodeError,
    UsageFormatError,
    UnicodeDecodeError,
    ValueError,
    TypeError,
)


class ZedImporter(Importer):
    """Imports Zed agent threads from ``threads.db``."""

    name = HARNESS
    env_vars = (config.ENV_OTEL_COST_ZED_DIR,)
    whole_file = False

    def default_roots(self) -> list[Path]:
        """Return Zed's data directory, or the one ``OTEL_COST_ZED_DIR`` names."""
        if is_macos():
            default = config.home() / "Library" / "Application Support" / "Zed"
        else:
            default = xdg_data_dir() / "zed"
        return [choose_root(self.env_vars, default).path]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield ``threads.db`` under the data directory or the directory itself."""
        for candidate in (root / "threads" / DATABASE_NAME, root / DATABASE_NAME):
            if candidate.is_file():
                yield candidate
                return

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read every thread changed since the ``updated_at`` values in ``state``."""
        seen: dict[str, str] = dict(state.get("updated_at", {}))
        result = ParseResult(offset=0)
        try:
            with open_sqlite_readonly(path) as connection:
                _read_threads(connection, seen, result)
        except sqlite3.Error as exc:
            # The state is returned unchanged, so the next run reads them again.
            result.errors.append(f"cannot read the threads table: {exc}")
            result.events = []
            seen = dict(state.get("updated_at", {}))
        result.state = {"updated_at": seen}
        return result

    def count_sessions(self, path: Path) -> int | None:
        """Return the number of threads in the database."""
        with open_sqlite_readonly(path) as connection:
            row = connection.execute("SELECT count(*) FROM threads").fetchone()
        return int(row[0])


def _read_threads(
    connection: sqlite3.Connection, seen: dict[str, str], result: ParseResult
) -> None:
    columns = table_columns(connection, "threads")
    optional = [
        name
        for name in ("parent_id", "folder_paths", "folder_paths_order")
        if name in columns
    ]
    names = ["id", "updated_at", "data_type", "data", *optional]
    for row in connection.execute(f"SELECT {', '.join(names)} FROM threads"):
        record = dict(zip(names, row, strict=True))
        thread_id = str(record["id"])
        updated_at = str(record["updated_at"])
        if seen.get(thread_id) == updated_at:
            continue
        try:
            result.events.extend(_thread_events(record))
        except RECORD_ERRORS as exc:
            result.add_error(f"thread {thread_id}: {exc}", MAX_REPORTED_ERRORS)
            continue
        seen[thread_id] = updated_at


def _thread_events(record: Mapping[str, Any]) -> list[CostEvent]:
    thread = _decode(record["data_type"], record["data"])
    thread_id = str(record["id"])
    ts = _parse_time(str(record["updated_at"]))
    template = CostEvent(
        event_id="",
        ts=ts,
        harness=HARNESS,
        source="import",
        session_id=thread_id,
        parent_session_id=str(record.get("parent_id") or ""),
        project=_project(record.get("folder_paths"), record.get("folder_paths_order")),
        operation="chat",
    )
    _apply_model(template, thread.get("model"))
    per_request = _request_usages(thread.get("request_token_usage"))
    events = [
        template.replace(
            event_id=f"{HARNESS}:{thread_id}:{key}", usage=from_anthropic(raw)
        )
        for key, raw in per_request.items()
    ]
    remainder = _remainder(thread.get("cumulative_token_usage"), per_request.values())
    if remainder is not None:
        events.append(
            template.replace(
                event_id=f"{HARNESS}:{thread_id}:remainder",
                usage=remainder,
                attributes={"usage_scope": "thread total not attributed to a prompt"},
            )
        )
    return [event for event in events if event.usage.total_tokens > 0]


def _decode(data_type: Any, data: Any) -> dict[str, Any]:
    raw = bytes(data) if not isinstance(data, str) else data.encode()
    if data_type == "zstd":
        # Zed's frames may lack a content size, which one-shot decoding needs.
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    elif data_type != "json":
        raise ValueError(f"unknown data_type {data_type!r}; expected zstd or json")
    thread = orjson.loads(raw)
    if not isinstance(thread, dict):
        raise ValueError(
            f"thread data is a {type(thread).__name__}, expected an object"
        )
    return thread


def _apply_model(event: CostEvent, model: Any) -> None:
    if not isinstance(model, dict):
        return
    provider = str(model.get("provider") or "")
    name = str(model.get("model") or "")
    event.provider = PROVIDER_NAMES.get(provider, provider)
    event.model_requested = name
    event.model = _rate_card_model(name)


def _rate_card_model(name: str) -> str:
    trimmed = name
    for suffix in MODEL_SUFFIXES:
        if trimmed.endswith(suffix):
            trimmed = trimmed[: -len(suffix)]
    return trimmed


def _request_usages(value: Any) -> dict[str, dict[str, Any]]:
    # Threads saved before format 0.3.0 keep a list indexed by message position.
    if isinstance(value, list):
        items = [(f"message-{index}", usage) for index, usage in enumerate(value)]
    elif isinstance(value, dict):
        items = [(str(key), usage) for key, usage in value.items()]
    else:
        return {}
    return {key: usage for key, usage in items if isinstance(usage, dict)}


def _remainder(
    cumulative: Any, per_request: Collection[Mapping[str, Any]]
) -> Usage | None:
    if not isinstance(cumulative, dict):
        return None
    left: dict[str, int] = {}
    for field in USAGE_FIELDS:
        counted = sum(int(usage.get(field) or 0) for usage in per_request)
        # NOTE: a category where the requests exceed the cumulative counter
        # (a thread edited after the fact) contributes zero, not a negative.
        left[field] = max(int(cumulative.get(field) or 0) - counted, 0)
    usage = from_anthropic(left)
    return usage if usage.total_tokens > 0 else None


def _project(folder_paths: Any, order: Any) -> str:
    # Zed stores the workspace folders sorted, one per line, and the order the
    # user opened them in as comma-separated positions.
    if not isinstance(folder_paths, str) or not folder_paths:
        return ""
    paths = folder_paths.split("\n")
    positions = str(order or "").split(",")
    first = (
        paths[positions.index("0")]
        if len(positions) == len(paths) and "0" in positions
        else paths[0]
    )
    return Path(first).name


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"updated_at {text!r} has no UTC offset")
    return parsed
