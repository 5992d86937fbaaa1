"""Goose sessions: the ``sessions`` table of ``sessions/sessions.db``.

Goose keeps only session totals on disk (``accumulated_input_tokens``,
``accumulated_output_tokens`` and, in recent releases, the accumulated cache
reads and writes), so each session is one event marked
``attributes["granularity"] = "session"``. A row without accumulated totals
falls back to the plain ``input_tokens`` columns, marked
``attributes["token_columns"] = "plain"``. Its id is the session id, and its
time is the session's creation time, so the event keeps its identity while
the session grows. A later import with larger totals replaces the stored
event and corrects the rollups.

Input is read as including the cache reads and writes, which are taken out
of it, unless it is smaller than they are. That reading is an assumption
(Goose's own usage code was not checked), and the size test limits the harm
when it is wrong. Rows from releases without cache
columns price every input token as uncached input, which overstates cached
sessions. A session total is also priced as if it were one request. For
both reasons these events are marked ``estimated``.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Iterator, Mapping
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
    RecordError,
    any_time,
    as_mapping,
    canonical_usage,
    cost_usd,
    project_name,
    text,
    tokens,
)
from otel_cost.events import CostEvent, CostStatus, TokenCategory, Usage

logger = logging.getLogger(__name__)

HARNESS = "goose"
DATABASE_NAME = "sessions.db"
WATERMARK = "updated_at"
# Columns read when present; ``id`` is the only one required.
OPTIONAL_COLUMNS = (
    "working_dir",
    "created_at",
    "updated_at",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "accumulated_input_tokens",
    "accumulated_output_tokens",
    "accumulated_total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "accumulated_cache_read_tokens",
    "accumulated_cache_write_tokens",
    "accumulated_cost",
    "provider_name",
    "model_config_json",
    "session_type",
    "parent_session_id",
)


class GooseImporter(Importer):
    """Imports one session-total event per Goose session."""

    name = HARNESS

    def default_roots(self) -> list[Path]:
        """Return ``$GOOSE_PATH_ROOT/data``, else Goose's data directories."""
        override = env_path(config.ENV_GOOSE_PATH_ROOT)
        if override is not None:
            return [override / "data"]
        roots = [xdg_data_dir() / "goose"]
        if sys.platform == "darwin":
            # Goose's directory strategy may also pick the Apple location.
            support = config.home() / "Library" / "Application Support"
            roots.append(support / "Block.goose")
        return roots

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield ``sessions.db`` under ``root``, its ``sessions/`` or ``data/``."""
        for candidate in (
            root / "sessions" / DATABASE_NAME,
            root / DATABASE_NAME,
            root / "data" / "sessions" / DATABASE_NAME,
        ):
            if candidate.is_file():
                yield candidate

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read the sessions updated since the saved watermark."""
        result = ParseResult(offset=0, state=dict(state))
        try:
            with open_sqlite_readonly(path) as connection:
                for row in _session_rows(connection, state.get(WATERMARK), result):
                    _add_session_event(row, result)
        except sqlite3.Error as exc:
            result.errors.append(f"cannot read the database: {exc}")
        return result


def _session_rows(
    connection: sqlite3.Connection, watermark: Any, result: ParseResult
) -> Iterator[dict[str, Any]]:
    columns = table_columns(connection, "sessions")
    if "id" not in columns:
        result.errors.append("no sessions table; this Goose schema is not supported")
        return
    present = [name for name in OPTIONAL_COLUMNS if name in columns]
    sql = f"SELECT {', '.join(['id', *present])} FROM sessions"
    parameters: tuple[Any, ...] = ()
    if "updated_at" in present and isinstance(watermark, str):
        # ">=" re-reads sessions of the watermark's own second; the store
        # skips the ones that did not grow.
        sql += " WHERE updated_at >= ?"
        parameters = (watermark,)
    for values in connection.execute(sql, parameters):
        row = dict(zip(["id", *present], values, strict=True))
        updated = row.get("updated_at")
        if isinstance(updated, str) and updated > result.state.get(WATERMARK, ""):
            result.state[WATERMARK] = updated
        yield row


def _add_session_event(row: dict[str, Any], result: ParseResult) -> None:
    try:
        event = session_event(row)
    except RECORD_ERRORS as exc:
        result.add_error(f"session {row['id']}: {exc}")
        return
    if event is not None:
        result.events.append(event)


def session_event(row: Mapping[str, Any]) -> CostEvent | None:
    """Return the session-total event of one ``sessions`` row, None if empty."""
    usage = session_usage(row)
    if usage.total_tokens == 0:
        return None
    model = _model_name(row.get("model_config_json"))
    directory = text(row.get("working_dir"))
    return CostEvent(
        event_id=f"{HARNESS}:{row['id']}",
        ts=any_time(row.get("created_at") or row.get("updated_at"), "created_at"),
        harness=HARNESS,
        source="import",
        session_id=str(row["id"]),
        parent_session_id=text(row.get("parent_session_id")),
        provider=text(row.get("provider_name")),
        model_requested=model,
        model=model,
        project=project_name(directory),
        # With the "granularity: session" attribute the pricing engine does not
        # apply long-context tiers to a total of many requests.
        usage=usage,
        attributes=_attributes(row, directory),
        reported_cost_usd=cost_usd(row.get("accumulated_cost"), "accumulated_cost"),
        cost_status=CostStatus.ESTIMATED,
    )


def session_usage(row: Mapping[str, Any]) -> Usage:
    """Convert a session row's token totals into canonical categories."""
    # NOTE: in the releases that have both, the plain columns count only the
    # current context, so a row without accumulated totals may undercount.
    prefix = "accumulated_" if row.get("accumulated_input_tokens") is not None else ""
    prompt = tokens(row, f"{prefix}input_tokens")
    reads = tokens(row, f"{prefix}cache_read_tokens")
    writes = tokens(row, f"{prefix}cache_write_tokens")
    uncached = prompt - reads - writes if prompt >= reads + writes else prompt
    return canonical_usage(
        {
            TokenCategory.INPUT: uncached,
            TokenCategory.CACHE_READ: reads,
            TokenCategory.CACHE_WRITE_5M: writes,
            TokenCategory.OUTPUT: tokens(row, f"{prefix}output_tokens"),
        }
    )


def _model_name(raw: Any) -> str:
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str):
        raise RecordError(f"model_config_json must be JSON text, got {raw!r}")
    return text(as_mapping(orjson.loads(raw), "model_config_json").get("model_name"))


def _attributes(row: Mapping[str, Any], directory: str) -> dict[str, str]:
    attributes = {"granularity": "session"}
    if row.get("accumulated_input_tokens") is None:
        attributes["token_columns"] = "plain"
    if directory:
        attributes["cwd"] = directory
    total = row.get("accumulated_total_tokens")
    if isinstance(total, int):
        attributes["reported_total_tokens"] = str(total)
    session_type = text(row.get("session_type"))
    if session_type:
        attributes["session_type"] = session_type
    return attributes
