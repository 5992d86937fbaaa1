"""The reconciler's SQL: rollup groups that differ from ``cost_events FINAL``.

ClickHouse compares the groups itself. It joins (FULL OUTER JOIN) the events,
aggregated as the materialized views do, with the rollup summed per key, and
returns only the groups that differ. So the reconciler's memory grows with the
number of differences, not with the number of groups in the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from otel_cost.store.connection import Store
from otel_cost.store.writer import (
    ROLLUP_COLUMNS,
    ROLLUP_DIMENSIONS,
    ROLLUP_MEASURES,
    SESSION_COLUMNS,
)

MEASURES = ["events", "cost_usd", "reported_cost_usd", *ROLLUP_MEASURES]
BOUNDS = ["first_ts", "last_ts"]
# Bounds are passed as DateTime64 for buckets too: the client formats one
# parameter one way for the whole query, and DateTime compares with DateTime64.
TIME = "DateTime64(3, 'UTC')"

# The views' expressions for each measure, from migrations 0002 and 0005.
EVENT_MEASURES = {
    "events": "toInt64(count())",
    **{
        name: f"sum(ifNull({name}, toDecimal128(0, 12)))"
        for name in ("cost_usd", "reported_cost_usd")
    },
    **{name: f"sum(toInt64({name}))" for name in ROLLUP_MEASURES},
}

# The ORDER BY key of cost_sessions, from migration 0005.
SESSION_KEYS = (
    "bucket", "user", "session_id", "harness", "provider", "resolved_model", "model",
    "project", "team", "cost_status",
)  # fmt: skip


@dataclass(frozen=True)
class Rollup:
    """A rollup table: its group key and whether it keeps session time bounds."""

    table: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    bounds: bool


ROLLUPS = (
    Rollup(
        "cost_rollup_15m", ("bucket", *ROLLUP_DIMENSIONS), tuple(ROLLUP_COLUMNS), False
    ),
    Rollup("cost_sessions", SESSION_KEYS, tuple(SESSION_COLUMNS), True),
)


@dataclass(frozen=True)
class Window:
    """The range to reconcile, on 15-minute boundaries; None means unbounded."""

    start: datetime | None
    end: datetime | None

    def parameters(self) -> dict[str, Any]:
        """Return the query parameters of the bounds that are set."""
        bounds = {"start": self.start, "end": self.end}
        return {name: value for name, value in bounds.items() if value is not None}

    def condition(self, column: str, kind: str) -> str:
        """Return a WHERE condition bounding ``column`` of type ``kind``."""
        parts = []
        if self.start is not None:
            parts.append(f"{column} >= {{start:{kind}}}")
        if self.end is not None:
            parts.append(f"{column} < {{end:{kind}}}")
        return " AND ".join(parts) or "1"


@dataclass
class Group:
    """The measures of one rollup group, plus its time bounds for sessions."""

    measures: tuple[Any, ...]
    first_ts: datetime | None = None
    last_ts: datetime | None = None


@dataclass(frozen=True)
class GroupPair:
    """One group as ``cost_events FINAL`` has it and as the rollup has it."""

    key: tuple[Any, ...]
    expected: Group | None
    actual: Group | None


def differing_groups(
    store: Store, rollup: Rollup, window: Window, skip_months: Sequence[int]
) -> tuple[int, list[GroupPair]]:
    """Return the number of groups in ``window`` and the groups that differ.

    Rollup groups and events in ``skip_months`` (``YYYYMM``) are left out.
    """
    measures = [*MEASURES, *(BOUNDS if rollup.bounds else []), "present"]
    columns = [f"{side}_{name}" for side in ("e", "r") for name in measures]
    differs = " OR ".join(f"e_{name} != r_{name}" for name in measures)
    keys = ", ".join(rollup.keys)
    # One row always comes back (position 1), so the count arrives even when
    # no group differs.
    sql = (
        f"SELECT * FROM (SELECT {keys}, {', '.join(columns)}, "
        "count() OVER () AS checked, row_number() OVER () AS position "
        f"FROM ({_expected_sql(rollup, window)}) AS e "
        f"FULL OUTER JOIN ({_actual_sql(rollup, window)}) AS r USING ({keys})) "
        f"WHERE position = 1 OR {differs}"
    )
    parameters = {**window.parameters(), "skip": list(skip_months)}
    rows = store.query(sql, parameters)
    checked = int(rows[0][-2]) if rows else 0
    return checked, [_pair(row, rollup, len(measures)) for row in rows]


def _expected_sql(rollup: Rollup, window: Window) -> str:
    selects = [
        "toDateTime(toStartOfFifteenMinutes(ts), 'UTC') AS bucket",
        *rollup.keys[1:],
        *(f"{expression} AS e_{name}" for name, expression in EVENT_MEASURES.items()),
    ]
    if rollup.bounds:
        selects += ["min(ts) AS e_first_ts", "max(ts) AS e_last_ts"]
    selects.append("toUInt8(1) AS e_present")
    return (
        f"SELECT {', '.join(selects)} FROM cost_events FINAL "
        f"WHERE {window.condition('ts', TIME)} "
        "AND NOT has({skip:Array(UInt32)}, toYYYYMM(ts)) "
        f"GROUP BY {', '.join(rollup.keys)}"
    )


def _actual_sql(rollup: Rollup, window: Window) -> str:
    selects = [*rollup.keys, *(f"sum({name}) AS r_{name}" for name in MEASURES)]
    if rollup.bounds:
        selects += ["min(first_ts) AS r_first_ts", "max(last_ts) AS r_last_ts"]
    selects.append("toUInt8(1) AS r_present")
    return (
        f"SELECT {', '.join(selects)} FROM {rollup.table} "
        f"WHERE {window.condition('bucket', TIME)} "
        "AND NOT has({skip:Array(UInt32)}, toYYYYMM(bucket)) "
        f"GROUP BY {', '.join(rollup.keys)}"
    )


def _pair(row: Sequence[Any], rollup: Rollup, width: int) -> GroupPair:
    count = len(rollup.keys)
    key = (utc(row[0]), *row[1:count])
    expected = _group(row[count : count + width], rollup)
    actual = _group(row[count + width : count + 2 * width], rollup)
    return GroupPair(key, expected, actual)


def _group(values: Sequence[Any], rollup: Rollup) -> Group | None:
    # The last value is the side's presence flag: 0 where the join found no
    # row on that side and filled in default values.
    if not values[-1]:
        return None
    group = Group(tuple(_exact(value) for value in values[: len(MEASURES)]))
    if rollup.bounds:
        group.first_ts = utc(values[len(MEASURES)])
        group.last_ts = utc(values[len(MEASURES) + 1])
    return group


def _exact(value: Any) -> Any:
    # Counts come back as int and money as Decimal, so both subtract exactly.
    return value if isinstance(value, Decimal) else int(value)


def months_without_events(store: Store, rollup: Rollup, window: Window) -> list[int]:
    """Return the months (``YYYYMM``) with rollup rows in ``window`` but no events."""
    parameters = window.parameters()
    rollup_months = store.query(
        f"SELECT DISTINCT toYYYYMM(bucket) FROM {rollup.table} "
        f"WHERE {window.condition('bucket', TIME)}",
        parameters,
    )
    event_months = store.query(
        "SELECT DISTINCT toYYYYMM(ts) FROM cost_events "
        f"WHERE {window.condition('ts', TIME)}",
        parameters,
    )
    months = {int(row[0]) for row in rollup_months}
    return sorted(months - {int(row[0]) for row in event_months})


def archived_months(store: Store) -> set[int]:
    """Return the months (``YYYYMM``) recorded in ``archived_months``."""
    rows = store.query("SELECT month FROM archived_months FINAL")
    return {int(row[0]) for row in rows}


def groups_by_month(
    store: Store, rollup: Rollup, window: Window, months: Sequence[int]
) -> dict[int, int]:
    """Return the number of rollup groups in ``window`` per month of ``months``.

    Months without rollup rows in ``window`` are left out.
    """
    keys = ", ".join(rollup.keys)
    rows = store.query(
        "SELECT toYYYYMM(bucket) AS month, count() FROM ("
        f"SELECT {keys} FROM {rollup.table} "
        f"WHERE {window.condition('bucket', TIME)} "
        "AND has({months:Array(UInt32)}, toYYYYMM(bucket)) "
        f"GROUP BY {keys}) GROUP BY month ORDER BY month",
        {**window.parameters(), "months": list(months)},
    )
    return {int(row[0]): int(row[1]) for row in rows}


def recent_buckets(store: Store, window: Window, settle: timedelta) -> set[datetime]:
    """Return the buckets in ``window`` with events ingested within ``settle``."""
    # Every revision counts, not only the latest, so no FINAL.
    parameters = {**window.parameters(), "settle": int(settle.total_seconds() * 1000)}
    rows = store.query(
        "SELECT DISTINCT toDateTime(toStartOfFifteenMinutes(ts), 'UTC') "
        "FROM cost_events "
        "WHERE ingested_at >= now64(3) - toIntervalMillisecond({settle:UInt64}) "
        f"AND {window.condition('ts', TIME)}",
        parameters,
    )
    return {utc(row[0]) for row in rows}


def utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
