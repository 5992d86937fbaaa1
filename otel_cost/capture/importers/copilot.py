"""GitHub Copilot: the CLI's session store and logs, and VS Code's trace database.

Three sources, one event per model request:

* ``session-store.db`` in the CLI directory (``~/.copilot``), table
  ``assistant_usage_events``: one row per request, written as it completes by
  the Copilot CLI and the GitHub Copilot desktop app. It is the authoritative
  source for every session it records.
* ``session-state/<session>/events.jsonl``: read only for sessions the store
  does not know (CLI builds from before the store). ``assistant.usage`` lines
  are requests; without them, each ``session.shutdown`` line gives per-model
  totals for one run of the session ("leg"), cumulative across resumed legs.
* VS Code Copilot Chat's ``agent-traces.db`` (written when the setting
  ``github.copilot.chat.otel.dbSpanExporter.enabled`` is on): ``chat`` spans.
  ``invoke_agent`` spans repeat their child chat spans' tokens and are skipped.

Every source counts input tokens OpenAI-style: input includes cache reads
and cache writes, and reasoning tokens are part of output.

GitHub bills Copilot in premium requests and AI credits, not in tokens, so a
token-priced dollar figure is an estimate of the API-equivalent cost. Some
sources record the credits a request was charged (``total_nano_aiu``, 1e9
nano AI units per credit). Those are kept in credits, unconverted, in the
event's ``ai_credits`` attribute beside the dollars. The credits are the bill,
and the dollars are what the same tokens cost at list price.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from otel_cost import config
from otel_cost.capture.importers.base import Importer, ParseResult, iter_complete_lines
from otel_cost.capture.importers.discovery import (
    choose_root,
    open_sqlite_readonly,
    sqlite_signature,
    table_columns,
    vscode_user_dirs,
)
from otel_cost.decimals import decimal_text
from otel_cost.errors import UsageFormatError
from otel_cost.events import CostEvent, Usage
from otel_cost.normalise.usage import count, from_openai, from_semconv

logger = logging.getLogger(__name__)

HARNESS = "copilot"
PROVIDER = "github.copilot"
STORE_NAME = "session-store.db"
TRACES_NAME = "agent-traces.db"
EVENTS_NAME = "events.jsonl"
NANO_AIU_PER_CREDIT = Decimal(10) ** 9
# Copilot names Claude models with a dotted version (claude-sonnet-4.5); the
# rate card uses dashes (claude-sonnet-4-5).
DOTTED_CLAUDE = re.compile(r"^(claude-[a-z]+-\d+)\.(\d+)")
STORE_COLUMNS = (
    "session_id", "model", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "total_nano_aiu", "request_multiplier",
    "duration_ms", "initiator", "agent_id", "reasoning_effort", "finish_reason",
    "created_at",
)  # fmt: skip
SESSION_COLUMNS = ("id", "cwd", "repository", "branch")
SPAN_COLUMNS = (
    "span_id", "trace_id", "start_time_ms", "end_time_ms", "status_code",
    "request_model", "response_model", "input_tokens", "output_tokens",
    "cached_tokens", "reasoning_tokens", "conversation_id", "chat_session_id",
    "agent_name",
)  # fmt: skip
NANO_AIU_ATTRIBUTES = ("copilot_chat.copilot_usage_nano_aiu", "github.copilot.nano_aiu")
REPOSITORY_ATTRIBUTE = "github.copilot.git.repository"
LEG_FIELDS = (
    "inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens",
    "reasoningTokens",
)  # fmt: skip
SPAN_STATUS_ERROR = 2
MAX_REPORTED_ERRORS = 5
RECORD_ERRORS = (UsageFormatError, ValueError, TypeError, KeyError, AttributeError)


class CopilotImporter(Importer):
    """Imports GitHub Copilot usage from the CLI and from VS Code."""

    name = HARNESS
    env_vars = (
        config.ENV_OTEL_COST_COPILOT_DIR,
        config.ENV_COPILOT_HOME,
        config.ENV_OTEL_COST_COPILOT_VSCODE_DIR,
    )
    whole_file = False
    setup_hint = (
        "VS Code Copilot Chat writes agent-traces.db only while the setting "
        "github.copilot.chat.otel.dbSpanExporter.enabled is true"
    )

    def __init__(self) -> None:
        self._store_sessions = StoreSessions()

    def default_roots(self) -> list[Path]:
        """Return the CLI directory and the VS Code ``User`` directories."""
        cli = choose_root(
            (config.ENV_OTEL_COST_COPILOT_DIR, config.ENV_COPILOT_HOME),
            config.home() / ".copilot",
        )
        vscode = choose_root((config.ENV_OTEL_COST_COPILOT_VSCODE_DIR,), Path())
        vscode_roots = [vscode.path] if vscode.env_var else vscode_user_dirs()
        return [cli.path, *vscode_roots]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield the store, the session logs and the trace databases under ``root``."""
        store = root / STORE_NAME
        if store.is_file():
            yield store
        sessions = root / "session-state"
        if sessions.is_dir():
            yield from sorted(sessions.glob(f"*/{EVENTS_NAME}"))
        storages = [
            root / "globalStorage",
            *sorted(root.glob("profiles/*/globalStorage")),
        ]
        for storage in storages:
            traces = storage / "github.copilot-chat" / TRACES_NAME
            if traces.is_file():
                yield traces

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read the new rows, lines or spans of one source."""
        if path.name == STORE_NAME:
            return _parse_database(path, state, _read_store)
        if path.name == TRACES_NAME:
            return _parse_database(path, state, _read_traces)
        return _parse_session_log(path, start, state, self._store_sessions)

    def count_sessions(self, path: Path) -> int | None:
        """Return the number of sessions one source contains."""
        if path.name == EVENTS_NAME:
            return 1
        sql = (
            "SELECT count(DISTINCT session_id) FROM assistant_usage_events"
            if path.name == STORE_NAME
            else "SELECT count(DISTINCT coalesce(conversation_id, chat_session_id)) "
            "FROM spans WHERE operation_name = 'chat'"
        )
        with open_sqlite_readonly(path) as connection:
            return int(connection.execute(sql).fetchone()[0])


# Shared helpers


def _parse_database(path: Path, state: dict[str, Any], reader: Any) -> ParseResult:
    # ``last_rowid`` is a watermark: rows are only ever appended, so a row id
    # above it is new. When the runner drops the state (the file's first page
    # changed), every row is read again and the writer skips what it has.
    result = ParseResult(offset=0)
    last_rowid = int(state.get("last_rowid", 0))
    try:
        with open_sqlite_readonly(path) as connection:
            last_rowid = reader(connection, last_rowid, result)
    except sqlite3.Error as exc:
        result.events = []
        result.errors.append(f"cannot read {path.name}: {exc}")
        last_rowid = int(state.get("last_rowid", 0))
    result.state = {"last_rowid": last_rowid}
    return result


def _inclusive_usage(
    prompt: Any, output: Any, cache_read: Any, cache_write: Any, reasoning: Any
) -> Usage:
    """Convert Copilot's cache-inclusive input and reasoning-inclusive output."""
    return from_openai(
        {
            "prompt_tokens": count(prompt, "input_tokens"),
            "completion_tokens": count(output, "output_tokens"),
            "prompt_tokens_details": {
                "cached_tokens": count(cache_read, "cache_read_tokens"),
                "cache_write_tokens": count(cache_write, "cache_write_tokens"),
            },
            "completion_tokens_details": {
                "reasoning_tokens": count(reasoning, "reasoning_tokens"),
            },
        }
    )


def _rate_card_model(model: str) -> str:
    return DOTTED_CLAUDE.sub(r"\1-\2", model)


def _credits_text(nano_aiu: Any) -> str | None:
    if nano_aiu is None or isinstance(nano_aiu, bool):
        return None
    return decimal_text(Decimal(str(nano_aiu)) / NANO_AIU_PER_CREDIT)


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError(f"timestamp {value!r} is not an ISO 8601 time")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    # The store writes UTC times, some without an offset.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _attributes(**values: Any) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value not in (None, "")}


# session-store.db


def _read_store(
    connection: sqlite3.Connection, last_rowid: int, result: ParseResult
) -> int:
    columns = [
        name
        for name in STORE_COLUMNS
        if name in table_columns(connection, "assistant_usage_events")
    ]
    if "session_id" not in columns or "model" not in columns:
        result.errors.append(
            "no assistant_usage_events table with session_id and model: "
            "this store predates per-request usage"
        )
        return last_rowid
    sessions = _store_sessions(connection)
    rows = connection.execute(
        f"SELECT rowid, {', '.join(columns)} FROM assistant_usage_events "
        "WHERE rowid > ? ORDER BY rowid",
        (last_rowid,),
    )
    for rowid, *values in rows:
        last_rowid = max(last_rowid, rowid)
        row = dict(zip(columns, values, strict=True))
        try:
            result.events.append(_store_event(rowid, row, sessions))
        except RECORD_ERRORS as exc:
            result.add_error(
                f"assistant_usage_events row {rowid}: {exc}", MAX_REPORTED_ERRORS
            )
    return last_rowid


def _store_sessions(connection: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    columns = [
        name
        for name in SESSION_COLUMNS
        if name in table_columns(connection, "sessions")
    ]
    if "id" not in columns:
        return {}
    rows = connection.execute(f"SELECT {', '.join(columns)} FROM sessions")
    return {str(row[0]): dict(zip(columns, row, strict=True)) for row in rows}


def _store_event(
    rowid: int, row: Mapping[str, Any], sessions: Mapping[str, Mapping[str, Any]]
) -> CostEvent:
    session_id = str(row["session_id"])
    session = sessions.get(session_id, {})
    model = str(row.get("model") or "")
    created_at = row.get("created_at")
    cwd = str(session.get("cwd") or "")
    return CostEvent(
        event_id=f"{HARNESS}:{session_id}:store:{rowid}@{created_at}",
        ts=_parse_time(created_at),
        harness=HARNESS,
        source="import",
        session_id=session_id,
        provider=PROVIDER,
        model_requested=model,
        model=_rate_card_model(model),
        project=Path(cwd).name if cwd else "",
        git_repo=str(session.get("repository") or ""),
        git_branch=str(session.get("branch") or ""),
        operation="chat",
        latency_ms=count(row.get("duration_ms"), "duration_ms"),
        usage=_inclusive_usage(
            row.get("input_tokens"),
            row.get("output_tokens"),
            row.get("cache_read_tokens"),
            row.get("cache_write_tokens"),
            row.get("reasoning_tokens"),
        ),
        attributes=_attributes(
            copilot_source="session-store",
            ai_credits=_credits_text(row.get("total_nano_aiu")),
            premium_request_multiplier=row.get("request_multiplier"),
            initiator=row.get("initiator"),
            agent_id=row.get("agent_id"),
            reasoning_effort=row.get("reasoning_effort"),
            finish_reason=row.get("finish_reason"),
        ),
    )


class StoreSessions:
    """The session ids each CLI store records, read once per store version."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], set[str]]] = {}

    def records(self, log_path: Path, session_id: str) -> bool:
        """Return True when the CLI's store records the session and so its usage.

        NOTE: this assumes the CLI registers a session in the store before the
        log shows its first request. A log read in between is imported, and
        the store's rows then count those requests a second time.
        """
        store = log_path.parent.parent.parent / STORE_NAME
        if not store.is_file():
            return False
        signature = sqlite_signature(store)
        cached = self._cache.get(store)
        if cached is None or cached[0] != signature:
            cached = (signature, _store_session_ids(store))
            self._cache[store] = cached
        return session_id in cached[1]


def _store_session_ids(store: Path) -> set[str]:
    found: set[str] = set()
    with open_sqlite_readonly(store) as connection:
        for table, column in (
            ("sessions", "id"),
            ("assistant_usage_events", "session_id"),
        ):
            if column in table_columns(connection, table):
                rows = connection.execute(f"SELECT DISTINCT {column} FROM {table}")
                found.update(str(row[0]) for row in rows)
    return found


# session-state/<session>/events.jsonl


def _parse_session_log(
    path: Path, start: int, state: dict[str, Any], store_sessions: StoreSessions
) -> ParseResult:
    context: dict[str, Any] = (
        dict(state) if state else {"session_id": path.parent.name, "legs": {}}
    )
    result = ParseResult(offset=start, state=context)
    if not context.get("owned_by_store"):
        try:
            context["owned_by_store"] = store_sessions.records(
                path, context["session_id"]
            )
        except sqlite3.Error as exc:
            # Without knowing, reading the log could count the session twice.
            result.errors.append(f"cannot check {STORE_NAME} for this session: {exc}")
            result.state = state
            return result
    for number, (end, line) in enumerate(iter_complete_lines(path, start), 1):
        result.offset = end
        if context["owned_by_store"]:
            continue
        label = f"line {number} after byte {start}"
        try:
            record = orjson.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"expected a JSON object, got {type(record).__name__}")
            result.events.extend(_log_record_events(record, context, label))
        except (orjson.JSONDecodeError, *RECORD_ERRORS) as exc:
            result.add_error(f"{label}: {exc}", MAX_REPORTED_ERRORS)
    return result


def _log_record_events(
    record: dict[str, Any], context: dict[str, Any], label: str
) -> list[CostEvent]:
    kind = record.get("type")
    data = _object(record.get("data"))
    if kind == "session.start":
        context["session_id"] = str(data.get("sessionId") or context["session_id"])
        context_info = _object(data.get("context"))
        cwd = context_info.get("cwd") or data.get("cwd")
        if isinstance(cwd, str):
            context["cwd"] = cwd
    elif kind == "session.compaction_complete" and data.get("success") is True:
        # A successful compaction resets the leg's counters.
        context["compacted"] = True
    elif kind == "assistant.usage":
        context["usage_lines"] = True
        return [_usage_line_event(record, data, context, label)]
    elif kind == "session.shutdown" and not context.get("usage_lines"):
        return _shutdown_events(record, data, context, label)
    return []


def _log_event(
    record: Mapping[str, Any], context: Mapping[str, Any], key: str, model: str
) -> CostEvent:
    cwd = str(context.get("cwd") or "")
    return CostEvent(
        event_id=f"{HARNESS}:{context['session_id']}:{key}",
        ts=_parse_time(record.get("timestamp")),
        harness=HARNESS,
        source="import",
        session_id=str(context["session_id"]),
        provider=PROVIDER,
        model_requested=model,
        model=_rate_card_model(model),
        project=Path(cwd).name if cwd else "",
        operation="chat",
    )


def _usage_line_event(
    record: Mapping[str, Any],
    data: Mapping[str, Any],
    context: Mapping[str, Any],
    label: str,
) -> CostEvent:
    line_id = record.get("id") or label.replace(" ", "-")
    event = _log_event(
        record, context, f"usage:{line_id}", str(data.get("model") or "")
    )
    event.usage = _inclusive_usage(
        data.get("inputTokens"),
        data.get("outputTokens"),
        data.get("cacheReadTokens"),
        data.get("cacheWriteTokens"),
        data.get("reasoningTokens"),
    )
    duration = data.get("duration")
    event.latency_ms = count(duration, "duration") if duration is not None else 0
    billing = _object(data.get("copilotUsage"))
    event.attributes = _attributes(
        copilot_source="events.jsonl",
        ai_credits=_credits_text(billing.get("totalNanoAiu")),
        initiator=data.get("initiator"),
    )
    return event


def _shutdown_events(
    record: Mapping[str, Any],
    data: Mapping[str, Any],
    context: dict[str, Any],
    label: str,
) -> list[CostEvent]:
    metrics = data.get("modelMetrics")
    if not isinstance(metrics, dict):
        return []
    line_id = record.get("id") or label.replace(" ", "-")
    legs: dict[str, dict[str, int]] = context.setdefault("legs", {})
    events = []
    for model, entry in metrics.items():
        raw = entry.get("usage") if isinstance(entry, dict) else None
        if not isinstance(raw, dict):
            continue
        current = {field: count(raw.get(field), field) for field in LEG_FIELDS}
        delta = _leg_delta(current, legs.get(model), bool(context.get("compacted")))
        legs[model] = current
        event = _log_event(record, context, f"shutdown:{line_id}:{model}", str(model))
        event.usage = _inclusive_usage(*(delta[field] for field in LEG_FIELDS))
        # NOTE: requests of a leg made before a compaction are missing from its
        # totals, because the compaction resets the counters.
        event.attributes = _attributes(
            copilot_source="events.jsonl", usage_scope="session.shutdown leg total"
        )
        if event.usage.total_tokens > 0:
            events.append(event)
    context["compacted"] = False
    return events


def _leg_delta(
    current: dict[str, int], previous: dict[str, int] | None, compacted: bool
) -> dict[str, int]:
    """Return one leg's own usage from totals that include the legs before it."""
    if previous is None or compacted:
        return current
    if any(current[field] < previous[field] for field in LEG_FIELDS):
        # A total below the previous leg's starts a new count; take it whole.
        return current
    return {field: current[field] - previous[field] for field in LEG_FIELDS}


# agent-traces.db (VS Code Copilot Chat)


def _read_traces(
    connection: sqlite3.Connection, last_rowid: int, result: ParseResult
) -> int:
    present = table_columns(connection, "spans")
    columns = [name for name in SPAN_COLUMNS if name in present]
    if "span_id" not in columns or "operation_name" not in present:
        result.errors.append("no spans table with span_id and operation_name")
        return last_rowid
    rows = connection.execute(
        f"SELECT rowid, {', '.join(columns)} FROM spans "
        "WHERE operation_name = 'chat' AND rowid > ? ORDER BY rowid",
        (last_rowid,),
    ).fetchall()
    for rowid, *values in rows:
        last_rowid = max(last_rowid, rowid)
        span = dict(zip(columns, values, strict=True))
        try:
            attributes = _span_attributes(connection, str(span["span_id"]))
            result.events.append(_span_event(span, attributes))
        except RECORD_ERRORS as exc:
            result.add_error(f"span {span.get('span_id')}: {exc}", MAX_REPORTED_ERRORS)
    return last_rowid


def _span_attributes(connection: sqlite3.Connection, span_id: str) -> dict[str, Any]:
    if "key" not in table_columns(connection, "span_attributes"):
        return {}
    rows = connection.execute(
        "SELECT key, value FROM span_attributes WHERE span_id = ?", (span_id,)
    )
    return {str(key): value for key, value in rows}


def _span_event(span: Mapping[str, Any], attributes: Mapping[str, Any]) -> CostEvent:
    # Epoch milliseconds are far above count's default maximum, a token limit.
    start_ms = count(span.get("start_time_ms"), "start_time_ms", maximum=2**63 - 1)
    end_ms = count(span.get("end_time_ms"), "end_time_ms", maximum=2**63 - 1)
    model = str(
        span.get("response_model")
        or attributes.get("gen_ai.response.model")
        or span.get("request_model")
        or ""
    )
    nano_aiu = next(
        (attributes[key] for key in NANO_AIU_ATTRIBUTES if key in attributes), None
    )
    repository = str(attributes.get(REPOSITORY_ATTRIBUTE) or "")
    failed = span.get("status_code") == SPAN_STATUS_ERROR
    return CostEvent(
        event_id=f"{HARNESS}:otel:{span['span_id']}",
        ts=datetime.fromtimestamp(start_ms / 1000, tz=UTC),
        harness=HARNESS,
        source="import",
        session_id=str(
            span.get("conversation_id") or span.get("chat_session_id") or ""
        ),
        provider=PROVIDER,
        model_requested=str(span.get("request_model") or model),
        model=_rate_card_model(model),
        project=repository.rstrip("/").rsplit("/", 1)[-1],
        git_repo=repository,
        trace_id=str(span.get("trace_id") or ""),
        span_id=str(span["span_id"]),
        operation="chat",
        outcome="error" if failed else "ok",
        latency_ms=max(end_ms - start_ms, 0),
        usage=from_semconv(_span_usage(span, attributes)),
        attributes=_attributes(
            copilot_source="agent-traces",
            ai_credits=_credits_text(nano_aiu),
            agent_name=span.get("agent_name"),
        ),
    )


def _span_usage(
    span: Mapping[str, Any], attributes: Mapping[str, Any]
) -> dict[str, Any]:
    # The span row's columns mirror the gen_ai.usage attributes; the cache-write
    # count exists only as an attribute.
    usage = {
        key: value
        for key, value in attributes.items()
        if key.startswith("gen_ai.usage.")
    }
    fallbacks = {
        "gen_ai.usage.input_tokens": span.get("input_tokens"),
        "gen_ai.usage.output_tokens": span.get("output_tokens"),
        "gen_ai.usage.cache_read.input_tokens": span.get("cached_tokens"),
        "gen_ai.usage.reasoning.output_tokens": span.get("reasoning_tokens"),
    }
    for key, value in fallbacks.items():
        if key not in usage and value is not None:
            usage[key] = value
    return usage
