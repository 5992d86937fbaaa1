"""Writing cost events so that re-sent or re-imported events never double count.

For each batch the writer looks up the events already stored under the same
ids. An exact re-send is skipped. A later revision with more tokens, such as a
streamed response written again with its final usage, replaces the stored row
and keeps the first-seen time and session. The writer then adds a negative row
to each rollup (``cost_rollup_15m`` and ``cost_sessions``), so the totals there
count the event once.

A service encodes each request's events as a ``cost_events`` insert block in
the thread that received them (`prepare_events`). Its single writer thread
then only looks the ids up and, when none is stored yet, inserts the blocks
as they are (`write_prepared`). A batch with a stored or repeated id takes the
path above instead.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from otel_cost.events import (
    CostEvent,
    CostLine,
    CostStatus,
    FeeCategory,
    TokenCategory,
    Usage,
)
from otel_cost.store.connection import Store

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
TOKEN_COLUMNS = {category: f"{category.value}_tokens" for category in TokenCategory}
FEE_COLUMNS = {fee: f"{fee.value}_count" for fee in FeeCategory}

EVENT_COLUMNS = [
    "event_id", "version", "ts", "harness", "source", "session_id",
    "parent_session_id", "provider", "model_requested", "model", "resolved_model",
    "project", "task_type", "user", "team", "cost_center", "git_repo", "git_branch",
    "trace_id", "span_id", "operation", "tool_name", "outcome", "error_type",
    "latency_ms", "service_tier",
    *TOKEN_COLUMNS.values(), *FEE_COLUMNS.values(),
    "pricing_version", "cost_status", "cost_usd", "cost_by_category",
    "reported_cost_usd", "attributes", "ingested_at",
]  # fmt: skip

# The event fields stored as they are, between ``ts`` and ``latency_ms``.
TEXT_COLUMNS = EVENT_COLUMNS[
    EVENT_COLUMNS.index("harness") : EVENT_COLUMNS.index("latency_ms")
]

ROLLUP_DIMENSIONS = [
    "harness", "provider", "resolved_model", "model", "project", "team", "user",
    "cost_status",
]  # fmt: skip
ROLLUP_MEASURES = [*TOKEN_COLUMNS.values(), *FEE_COLUMNS.values()]
ROLLUP_COLUMNS = [
    "bucket", *ROLLUP_DIMENSIONS, "events", "cost_usd", "reported_cost_usd",
    *ROLLUP_MEASURES,
]  # fmt: skip
# cost_sessions has the rollup's columns plus the session and its time span.
SESSION_COLUMNS = [*ROLLUP_COLUMNS, "session_id", "first_ts", "last_ts"]

# Each lookup carries at most this many bytes of quoted ids, and raises
# ClickHouse's max_query_size (256 KiB by default) for itself. A batch of
# 20,000 ids then takes one query instead of nine, and each query costs
# ClickHouse about 10 ms besides the ids (measured with chDB 4.4).
LOOKUP_BYTES = 4 * 2**20
LOOKUP_SETTINGS = {"max_query_size": 2 * LOOKUP_BYTES}
# Characters that JSON or a ClickHouse string literal escapes.
_ESCAPED = re.compile(r"[\\\"']")


@dataclass
class WriteResult:
    """Counts of one write, and the change in total cost it caused."""

    inserted: int = 0
    replaced: int = 0
    duplicates: int = 0
    #: Change in total cost caused by this write (new events plus growth).
    cost_usd: Decimal = ZERO
    #: New events stored without a price.
    unpriced: int = 0

    def add(self, other: WriteResult) -> None:
        """Add another result's counts to this one."""
        self.inserted += other.inserted
        self.replaced += other.replaced
        self.duplicates += other.duplicates
        self.cost_usd += other.cost_usd
        self.unpriced += other.unpriced


@dataclass
class PreparedEvents:
    """Events of one request, already encoded as a ``cost_events`` insert block.

    When a worker process converted them, the events are not sent back:
    ``loader`` converts the request again, which is needed only when the block
    cannot be inserted as it is.
    """

    ids: list[str]
    #: The rows in ClickHouse's Native format, with their version and ingest time.
    block: bytes = field(repr=False)
    cost_usd: Decimal = ZERO
    unpriced: int = 0
    events: list[CostEvent] | None = field(default=None, repr=False)
    loader: Callable[[], list[CostEvent]] | None = field(default=None, repr=False)
    #: The earliest and latest event time, which a repair after a crash needs.
    first_ts: datetime | None = None
    last_ts: datetime | None = None

    def load(self) -> list[CostEvent]:
        """Return the events, converting them again on first use if needed."""
        if self.events is None:
            self.events = self.loader() if self.loader else []
        return self.events


def prepare_events(store: Store, events: list[CostEvent]) -> PreparedEvents | None:
    """Encode ``events`` for `write_prepared`; None when the client cannot encode.

    The encoding uses the client library's Native encoder. Should a future
    version of the library move it, this returns None and the writer falls
    back to `write_events`.
    """
    if "cost_events_encoder" not in store.cache:
        store.cache["cost_events_encoder"] = native_encoder(insert_type_names(store))
    encoder = store.cache["cost_events_encoder"]
    if encoder is None or not events:
        return None
    return encode_prepared(encoder, events)


def encode_prepared(encoder: Any, events: list[CostEvent]) -> PreparedEvents:
    """Encode ``events`` with an encoder from `native_encoder`."""
    cost = ZERO
    unpriced = 0
    for event in events:
        cost += event.cost_usd or ZERO
        unpriced += event.cost_status is CostStatus.UNPRICED
    block = encoder(event_columns(events, time.time_ns()))
    ids = [event.event_id for event in events]
    times = [event.ts for event in events]
    return PreparedEvents(
        ids,
        block,
        cost,
        unpriced,
        events=events,
        first_ts=min(times),
        last_ts=max(times),
    )


def write_prepared(store: Store, batches: Sequence[PreparedEvents]) -> WriteResult:
    """Store prepared batches; fall back to `write_events` when any id repeats."""
    ids = [event_id for batch in batches for event_id in batch.ids]
    stored = None if len(set(ids)) != len(ids) else _stored_ids(store, ids)
    if stored is None or stored:
        events = [event for batch in batches for event in batch.load()]
        return _write_events(store, events, stored)
    store.client.raw_insert(
        "cost_events",
        EVENT_COLUMNS,
        insert_block=b"".join(batch.block for batch in batches),
        fmt="Native",
        # The rollups' views then run side by side instead of one after another.
        settings={"parallel_view_processing": 1},
    )
    result = WriteResult(inserted=len(ids))
    for batch in batches:
        result.cost_usd += batch.cost_usd
        result.unpriced += batch.unpriced
    return result


def insert_type_names(store: Store) -> list[str]:
    """Return the ClickHouse type of each `EVENT_COLUMNS` column for encoding."""
    names: list[str] | None = store.cache.get("cost_events_types")
    if names is None:
        context = store.client.create_insert_context("cost_events", EVENT_COLUMNS)
        # LowCardinality columns travel as plain strings, which ClickHouse
        # converts on insert: the client builds a dictionary for each
        # LowCardinality column in Python, a third of the encoding time.
        names = [
            kind.name.replace("LowCardinality(String)", "String")
            for kind in context.column_types
        ]
        store.cache["cost_events_types"] = names
    return names


def native_encoder(type_names: list[str]) -> Any:
    """Return a function that encodes `EVENT_COLUMNS` columns as Native bytes.

    Returns None when the client library has no such encoder.
    """
    try:
        from clickhouse_connect.datatypes.registry import get_from_name
        from clickhouse_connect.driver.insert import InsertContext
        from clickhouse_connect.driver.transform import NativeTransform
    except ImportError:  # pragma: no cover - depends on the library version
        return None
    types = [get_from_name(name) for name in type_names]

    def encode(columns: list[list[Any]]) -> bytes:
        context = InsertContext(
            "cost_events", EVENT_COLUMNS, types, data=columns, column_oriented=True
        )
        chunks = list(NativeTransform.build_insert(context))
        # The first chunk starts with the INSERT statement for an HTTP body.
        chunks[0] = chunks[0][chunks[0].index(b"\n") + 1 :]
        return b"".join(chunks)

    return encode


def decode_block(block: bytes) -> list[CostEvent]:
    """Return the events of a block from `prepare_events`, as the writer needs them.

    The service's journal keeps requests as their insert blocks, and a block
    is inserted as it is unless some of its ids are stored already. Then the
    writer compares the events, so the block is read back here. Each cost
    line keeps its cost and quantity, and its rate is their quotient.

    NOTE: this uses the client library's internal Native reader, as
    `native_encoder` uses its writer; tests/test_serve_journal.py checks the
    round trip, so a library change that breaks it fails there.
    """
    from clickhouse_connect.driver.transform import NativeTransform

    result: Any = NativeTransform.parse_response(_block_buffer(block))
    return [
        _event_from_row(dict(zip(result.column_names, row, strict=True)))
        for row in result.result_rows
    ]


class _BlockSource:
    """One in-memory block, in the shape the client library reads responses from."""

    def __init__(self, block: bytes) -> None:
        self.gen = iter([block])
        self.last_message: bytes | None = None

    def close(self) -> None:
        """Nothing to release: the block is already in memory."""


def _block_buffer(block: bytes) -> Any:
    try:
        from clickhouse_connect.driverc.buffer import ResponseBuffer
    except ImportError:  # pragma: no cover - the C extension is optional
        from clickhouse_connect.driver.buffer import ResponseBuffer
    return ResponseBuffer(_BlockSource(block))


def _event_from_row(row: dict[str, Any]) -> CostEvent:
    tokens = {
        category: int(row[name])
        for category, name in TOKEN_COLUMNS.items()
        if row[name]
    }
    fees = {fee: int(row[name]) for fee, name in FEE_COLUMNS.items() if row[name]}
    counts: dict[str, int] = {
        **{category.value: count for category, count in tokens.items()},
        **{fee.value: count for fee, count in fees.items()},
    }
    lines = []
    for category, cost in row["cost_by_category"].items():
        quantity = counts.get(category, 0)
        rate = cost / quantity if quantity else cost
        lines.append(CostLine(category, quantity, rate, cost))
    text = {name: row[name] for name in TEXT_COLUMNS}
    return CostEvent(
        event_id=row["event_id"],
        ts=row["ts"].replace(tzinfo=UTC),
        **text,
        latency_ms=row["latency_ms"],
        service_tier=row["service_tier"],
        usage=Usage(tokens=tokens, fees=fees),
        attributes=dict(row["attributes"]),
        reported_cost_usd=row["reported_cost_usd"],
        pricing_version=row["pricing_version"],
        cost_status=CostStatus(row["cost_status"]),
        cost_usd=row["cost_usd"],
        cost_lines=lines,
    )


def write_events(store: Store, events: Iterable[CostEvent]) -> WriteResult:
    """Store ``events``, skipping re-sends and replacing grown revisions."""
    return _write_events(store, events, None)


def _write_events(
    store: Store, events: Iterable[CostEvent], stored_ids: list[str] | None
) -> WriteResult:
    # ``stored_ids`` is the result of `_stored_ids` for these events when the
    # caller already ran it; None runs it here.
    batch = _collapse(events)
    result = WriteResult()
    if not batch:
        return result
    existing = _lookup(store, list(batch), stored_ids)
    stored: list[CostEvent] = []
    compensations: list[list[Any]] = []
    session_compensations: list[list[Any]] = []
    version = time.time_ns()
    for event_id, event in batch.items():
        old = existing.get(event_id)
        if old is None:
            result.inserted += 1
            result.unpriced += event.cost_status is CostStatus.UNPRICED
        elif event.usage.total_tokens > old["total_tokens"]:
            # Identity stays with the first sighting; usage only grows.
            event = event.replace(ts=old["ts"], session_id=old["session_id"])
            compensations.append(_negated_rollup_row(old))
            session_compensations.append(_negated_session_row(old))
            result.replaced += 1
            result.cost_usd -= old["cost_usd"] or ZERO
        else:
            result.duplicates += 1
            continue
        result.cost_usd += event.cost_usd or ZERO
        stored.append(event)
    _insert_events(store, stored, version)
    store.insert("cost_rollup_15m", compensations, ROLLUP_COLUMNS)
    store.insert("cost_sessions", session_compensations, SESSION_COLUMNS)
    return result


def _collapse(events: Iterable[CostEvent]) -> dict[str, CostEvent]:
    # Within one batch, the revision with the most tokens wins, placed at the
    # first revision's time.
    batch: dict[str, CostEvent] = {}
    for event in events:
        seen = batch.get(event.event_id)
        if seen is None:
            batch[event.event_id] = event
        elif event.usage.total_tokens > seen.usage.total_tokens:
            batch[event.event_id] = event.replace(
                ts=seen.ts, session_id=seen.session_id
            )
    return batch


def _lookup(
    store: Store, event_ids: Sequence[str], stored: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    # NOTE: the lookup and the insert are two statements. Two writers storing
    # the same new event at once both insert it: the raw table keeps one row,
    # but the rollups count it twice. Routing each trace to one service avoids
    # this, and `otel-cost reconcile` repairs it (docs/scale.md).
    #
    # Most events are new, so a first query reads only the id hashes in
    # cost_event_ids. Only the ids it finds are read in full, with FINAL, which
    # reads every selected column of each granule it touches.
    if stored is None:
        stored = _stored_ids(store, event_ids)
    if not stored:
        return {}
    columns = ", ".join(
        ["event_id", "ts", "session_id", *ROLLUP_DIMENSIONS, "cost_usd",
         "reported_cost_usd", *ROLLUP_MEASURES]
    )  # fmt: skip
    found: dict[str, dict[str, Any]] = {}
    for chunk in _id_chunks(stored):
        rows = store.query_dicts(
            f"SELECT {columns} FROM cost_events FINAL "
            f"WHERE event_id IN ({','.join(chunk)})",
            settings=LOOKUP_SETTINGS,
        )
        for row in rows:
            row["total_tokens"] = sum(row[name] for name in TOKEN_COLUMNS.values())
            found[row["event_id"]] = row
    return found


def _stored_ids(store: Store, event_ids: Sequence[str]) -> list[str]:
    """Return the ids among ``event_ids`` that ``cost_events`` may contain.

    The query reads the hashes in ``cost_event_ids``, so its cost is bounded
    by the batch, not the table. An id returned whose hash belongs to another
    id, or whose month was archived, has no row in ``cost_events``, which
    `_lookup` then finds. The ids travel as one JSON array in a string literal:
    ClickHouse parses a list of 2,000 separate literals about twice as slowly.
    """
    found: list[str] = []
    for chunk in _json_chunks(event_ids):
        found.extend(
            row[0]
            for row in store.query(
                f"WITH JSONExtract({_quoted(chunk)}, 'Array(String)') AS ids "
                "SELECT DISTINCT id FROM (SELECT arrayJoin(ids) AS id) "
                "WHERE cityHash64(id) IN (SELECT id_hash FROM cost_event_ids "
                "WHERE id_hash IN (SELECT cityHash64(arrayJoin(ids))))",
                settings=LOOKUP_SETTINGS,
            )
        )
    return found


def _json_chunks(event_ids: Sequence[str]) -> list[str]:
    """Return the ids as JSON arrays, each under the query size limit once quoted."""
    joined = "".join(event_ids)
    if (
        len(joined) + 3 * len(event_ids) <= LOOKUP_BYTES
        and joined.isascii()
        and joined.isprintable()
        and not _ESCAPED.search(joined)
    ):
        # Usual ids need no escaping, so one check of them all replaces one per id.
        return [orjson.dumps(list(event_ids)).decode()]
    chunks: list[str] = []
    start = size = 0
    for index, event_id in enumerate(event_ids):
        cost = _json_literal_bytes(event_id)
        if index > start and size + cost > LOOKUP_BYTES:
            chunks.append(orjson.dumps(list(event_ids[start:index])).decode())
            start, size = index, 0
        size += cost
    if len(event_ids) > start:
        chunks.append(orjson.dumps(list(event_ids[start:])).decode())
    return chunks


def _json_literal_bytes(event_id: str) -> int:
    """Return the bytes ``event_id`` takes in a quoted JSON array, with its comma."""
    if event_id.isascii() and event_id.isprintable() and not _ESCAPED.search(event_id):
        return len(event_id) + 3
    # JSON escapes a control character in six bytes, and quoting then doubles
    # every backslash, so measure the escaped text itself.
    return len(_quoted(orjson.dumps(event_id).decode()).encode()) - 1


def _quoted(text: str) -> str:
    """Return ``text`` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _id_chunks(event_ids: Sequence[str]) -> list[list[str]]:
    """Return the ids as quoted literals, in chunks under the query size limit.

    The ids are quoted here: the client library's own parameter formatting
    escapes them one character at a time, which was half the cost of a lookup.
    """
    chunks: list[list[str]] = [[]]
    size = 0
    for event_id in event_ids:
        literal = _quoted(event_id)
        cost = len(literal.encode()) + 1
        if chunks[-1] and size + cost > LOOKUP_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(literal)
        size += cost
    return chunks


def _insert_events(store: Store, events: list[CostEvent], version: int) -> None:
    # Column by column, so the client sends each column without transposing rows.
    if events:
        store.client.insert(
            "cost_events",
            event_columns(events, version),
            column_names=EVENT_COLUMNS,
            column_oriented=True,
        )


def event_columns(events: list[CostEvent], version: int) -> list[list[Any]]:
    """Return the ``cost_events`` columns of ``events``, in `EVENT_COLUMNS` order.

    Every row of one call gets the same ``ingested_at``.
    """
    count = len(events)
    usages = [event.usage for event in events]
    tokens = [[usage.tokens.get(name, 0) for usage in usages] for name in TOKEN_COLUMNS]
    fees = [[usage.fees.get(fee, 0) for usage in usages] for fee in FEE_COLUMNS]
    costs_by_category = [
        {line.category: line.cost_usd for line in event.cost_lines} for event in events
    ]
    return [
        [event.event_id for event in events],
        [version] * count,
        [_utc(event.ts) for event in events],
        *([getattr(event, name) for event in events] for name in TEXT_COLUMNS),
        [event.latency_ms for event in events],
        [event.service_tier for event in events],
        *tokens,
        *fees,
        [event.pricing_version for event in events],
        [event.cost_status.value for event in events],
        [event.cost_usd for event in events],
        costs_by_category,
        [event.reported_cost_usd for event in events],
        [event.attributes for event in events],
        [datetime.now(UTC)] * count,
    ]


def event_row(event: CostEvent, version: int) -> list[Any]:
    """Return the ``cost_events`` row of one event, in `EVENT_COLUMNS` order."""
    tokens = [event.usage.tokens.get(category, 0) for category in TOKEN_COLUMNS]
    fees = [event.usage.fees.get(fee, 0) for fee in FEE_COLUMNS]
    cost_by_category = {line.category: line.cost_usd for line in event.cost_lines}
    return [
        event.event_id, version, _utc(event.ts), event.harness, event.source,
        event.session_id, event.parent_session_id, event.provider,
        event.model_requested, event.model, event.resolved_model, event.project,
        event.task_type, event.user, event.team, event.cost_center, event.git_repo,
        event.git_branch, event.trace_id, event.span_id, event.operation,
        event.tool_name, event.outcome, event.error_type, event.latency_ms,
        event.service_tier, *tokens, *fees, event.pricing_version,
        event.cost_status.value, event.cost_usd, cost_by_category,
        event.reported_cost_usd, event.attributes, datetime.now(UTC),
    ]  # fmt: skip


def _negated_rollup_row(old: dict[str, Any]) -> list[Any]:
    ts: datetime = _utc(old["ts"])
    bucket = ts.replace(minute=ts.minute - ts.minute % 15, second=0, microsecond=0)
    dimensions = [old[name] for name in ROLLUP_DIMENSIONS]
    measures = [-int(old[name]) for name in ROLLUP_MEASURES]
    cost = -(old["cost_usd"] or ZERO)
    reported = -(old["reported_cost_usd"] or ZERO)
    return [bucket, *dimensions, -1, cost, reported, *measures]


def _negated_session_row(old: dict[str, Any]) -> list[Any]:
    # The replacing revision keeps this time, so first_ts and last_ts (min and
    # max) of the session stay right with the old time in the negative row.
    ts = _utc(old["ts"])
    return [*_negated_rollup_row(old), old["session_id"], ts, ts]


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)
