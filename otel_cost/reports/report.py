"""Cost reports grouped by day, session, project, model, harness or provider.

Groupings that are dimensions of ``cost_rollup_15m`` read that rollup, which
contains one row per 15-minute bucket and dimension set instead of one per event.
The session grouping reads ``cost_sessions``, the same rollup with the session
added to its key. Ranges whose bounds are not on a 15-minute boundary read
``cost_events FINAL``. Both paths return the same totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from otel_cost.events import TokenCategory
from otel_cost.store.connection import Store

GROUPINGS = {
    "day": "toString(toDate(ts, %(tz)s))",
    "session": "session_id",
    "project": "project",
    "model": "if(resolved_model != '', resolved_model, model)",
    "harness": "harness",
    "provider": "provider",
}
# Every UTC offset in use is a whole number of 15-minute steps, so a bucket
# lies within one local day and ``toDate(bucket, tz)`` is that bucket's day.
ROLLUP_GROUPINGS = {
    "day": "toString(toDate(bucket, %(tz)s))",
    "project": "project",
    "model": "if(resolved_model != '', resolved_model, model)",
    "harness": "harness",
    "provider": "provider",
}
BUCKET_SECONDS = 15 * 60
# Enum attribute access is slow enough to dominate a report of many groups.
TOKEN_KEYS = tuple(category.value for category in TokenCategory)
TOKEN_SUMS = ",\n    ".join(
    f"sum({category.value}_tokens) AS {category.value}" for category in TokenCategory
)
RAW_MEASURES = (
    "ifNull(sum(cost_usd), toDecimal128(0, 12)) AS cost_usd,\n"
    "    count() AS events,\n"
    "    countIf(cost_status = 'unpriced') AS unpriced_events,\n"
    "    countIf(cost_status = 'estimated') AS estimated_events,\n"
    f"    {TOKEN_SUMS}"
)
# The rollup stores an unpriced event's cost as 0, and a revision that replaced
# an event as a negative row, so sums over it equal sums over the raw table.
# The qualified column name keeps ``events`` from meaning the alias.
ROLLUP_MEASURES = (
    "sum(cost_usd) AS cost_usd,\n"
    "    sum(events) AS events,\n"
    "    sumIf({table}.events, cost_status = 'unpriced') AS unpriced_events,\n"
    "    sumIf({table}.events, cost_status = 'estimated') AS estimated_events,\n"
    f"    {TOKEN_SUMS}"
)
ROLLUP_TABLE = "cost_rollup_15m"
SESSION_TABLE = "cost_sessions"
ZERO = Decimal(0)


@dataclass
class ReportRow:
    """The totals of one group."""

    key: str
    cost_usd: Decimal
    events: int
    unpriced_events: int
    estimated_events: int
    tokens: dict[str, int]


@dataclass
class Report:
    """A grouped report with its grand total."""

    group_by: str
    timezone: str
    since: datetime | None
    until: datetime | None
    rows: list[ReportRow] = field(default_factory=list)
    total_usd: Decimal = ZERO
    events: int = 0
    unpriced_events: int = 0
    estimated_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of the report."""
        return {
            "group_by": self.group_by,
            "timezone": self.timezone,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "rows": [
                {
                    "key": row.key,
                    # null, not 0, when no event of the group has a price
                    "cost_usd": (
                        None
                        if row.events and row.unpriced_events == row.events
                        else row.cost_usd
                    ),
                    "events": row.events,
                    "unpriced_events": row.unpriced_events,
                    "estimated_events": row.estimated_events,
                    "tokens": row.tokens,
                }
                for row in self.rows
            ],
            "total_usd": self.total_usd,
            "events": self.events,
            "unpriced_events": self.unpriced_events,
            "estimated_events": self.estimated_events,
        }


def day_bounds(
    since: date | None, until: date | None, tz: str
) -> tuple[datetime | None, datetime | None]:
    """Return UTC instants for the start of ``since`` and the end of ``until`` in ``tz``."""
    zone = ZoneInfo(tz)
    start = datetime.combine(since, time(), zone).astimezone(UTC) if since else None
    end = (
        datetime.combine(until + timedelta(days=1), time(), zone).astimezone(UTC)
        if until
        else None
    )
    return start, end


def build_report(
    store: Store,
    group_by: str,
    tz: str,
    since: datetime | None = None,
    until: datetime | None = None,
    use_rollup: bool = True,
) -> Report:
    """Aggregate stored events by ``group_by`` between ``since`` and ``until``.

    With ``use_rollup`` False, every grouping reads the raw events.
    """
    table = _rollup_table(group_by, since, until) if use_rollup else None
    if table is not None:
        column, measures = "bucket", ROLLUP_MEASURES.format(table=table)
        key = ROLLUP_GROUPINGS.get(group_by, GROUPINGS[group_by])
        # A group whose events were all replaced under other dimensions nets
        # to zero events in the rollup, and the raw table has no such group.
        tail = "\nHAVING events != 0"
    else:
        table, column, measures = "cost_events FINAL", "ts", RAW_MEASURES
        key, tail = GROUPINGS[group_by], ""
    where, parameters = _filters(column, since, until)
    parameters["tz"] = tz
    order = "key" if group_by == "day" else "cost_usd DESC, key"
    sql = (
        f"SELECT {key} AS key,\n    {measures}\nFROM {table}\n{where}\n"
        f"GROUP BY key{tail}\nORDER BY {order}"
    )
    if table == "cost_events FINAL":
        # Every revision of an event keeps the first revision's time, so all
        # of them are in one monthly partition and FINAL can merge each
        # partition on its own, in parallel.
        sql += "\nSETTINGS do_not_merge_across_partitions_select_final = 1"
    report = Report(group_by=group_by, timezone=tz, since=since, until=until)
    report.rows = [_row(row) for row in store.query_dicts(sql, parameters)]
    # Every event is in exactly one group, so the groups add up to the total.
    report.total_usd = sum((row.cost_usd for row in report.rows), ZERO)
    report.events = sum(row.events for row in report.rows)
    report.unpriced_events = sum(row.unpriced_events for row in report.rows)
    report.estimated_events = sum(row.estimated_events for row in report.rows)
    return report


def _rollup_table(
    group_by: str, since: datetime | None, until: datetime | None
) -> str | None:
    if can_use_rollup(group_by, since, until):
        return ROLLUP_TABLE
    if can_use_session_rollup(group_by, since, until):
        return SESSION_TABLE
    return None


def can_use_session_rollup(
    group_by: str, since: datetime | None, until: datetime | None
) -> bool:
    """Return whether ``cost_sessions`` gives exact totals for this grouping and range.

    It serves the session grouping, with bounds on 15-minute boundaries.
    """
    if group_by != "session":
        return False
    bounds = [bound for bound in (since, until) if bound is not None]
    return all(_on_bucket_boundary(bound) for bound in bounds)


def can_use_rollup(
    group_by: str, since: datetime | None, until: datetime | None
) -> bool:
    """Return whether ``cost_rollup_15m`` gives exact totals for this grouping and range."""
    if group_by not in ROLLUP_GROUPINGS:
        return False
    bounds = [bound for bound in (since, until) if bound is not None]
    return all(_on_bucket_boundary(bound) for bound in bounds)


def _on_bucket_boundary(instant: datetime) -> bool:
    utc = instant.astimezone(UTC)
    return utc.microsecond == 0 and int(utc.timestamp()) % BUCKET_SECONDS == 0


def _filters(
    column: str, since: datetime | None, until: datetime | None
) -> tuple[str, dict[str, Any]]:
    clauses = []
    parameters: dict[str, Any] = {}
    if since is not None:
        clauses.append(f"{column} >= %(since)s")
        parameters["since"] = since.astimezone(UTC).replace(tzinfo=None)
    if until is not None:
        clauses.append(f"{column} < %(until)s")
        parameters["until"] = until.astimezone(UTC).replace(tzinfo=None)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", parameters


def _row(row: dict[str, Any]) -> ReportRow:
    tokens = {key: int(row[key]) for key in TOKEN_KEYS if row[key]}
    return ReportRow(
        key=str(row["key"]),
        cost_usd=row["cost_usd"],
        events=int(row["events"]),
        unpriced_events=int(row["unpriced_events"]),
        estimated_events=int(row["estimated_events"]),
        tokens=tokens,
    )


def report_from_json(document: dict[str, Any]) -> Report:
    """Rebuild a `Report` from its JSON form (as the service API returns it)."""

    def instant(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    report = Report(
        group_by=document["group_by"],
        timezone=document["timezone"],
        since=instant(document.get("since")),
        until=instant(document.get("until")),
    )
    report.rows = [
        ReportRow(
            key=row["key"],
            cost_usd=Decimal(row["cost_usd"] or 0),
            events=row["events"],
            unpriced_events=row["unpriced_events"],
            estimated_events=row.get("estimated_events", 0),
            tokens=row["tokens"],
        )
        for row in document["rows"]
    ]
    report.total_usd = Decimal(document["total_usd"])
    report.events = document["events"]
    report.unpriced_events = document["unpriced_events"]
    report.estimated_events = document.get("estimated_events", 0)
    return report
