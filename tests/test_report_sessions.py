"""The session rollup ``cost_sessions`` returns what ``cost_events FINAL`` returns."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from otel_cost.events import CostEvent, CostStatus, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.reports.report import Report, build_report, can_use_session_rollup
from otel_cost.store import Store
from otel_cost.store.migrations import (
    apply_migrations,
    backfill_statements,
    load_migrations,
    render,
    split_statements,
)
from otel_cost.store.writer import write_events

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def event(
    event_id: str,
    session: str,
    minutes: int,
    cost: str | None,
    *,
    project: str = "shop",
    model: str = "claude-sonnet-4-5",
    output_tokens: int = 10,
) -> CostEvent:
    """Build an event ``minutes`` after 09:00 on DAY; ``cost`` None is unpriced."""
    return CostEvent(
        event_id=event_id,
        ts=DAY + timedelta(hours=9, minutes=minutes),
        harness="claude-code",
        source="import",
        session_id=session,
        provider="anthropic",
        model=model,
        resolved_model=model if cost else "",
        project=project,
        user="ana",
        usage=Usage(tokens={T.INPUT: 100, T.OUTPUT: output_tokens}),
        cost_status=CostStatus.UNPRICED if cost is None else CostStatus.PRICED,
        cost_usd=None if cost is None else D(cost),
    )


def summary(report: Report) -> list[tuple[object, ...]]:
    return [
        (row.key, row.cost_usd, row.events, row.unpriced_events, row.tokens)
        for row in report.rows
    ]


def assert_paths_agree(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> Report:
    rollup = build_report(store, "session", "UTC", since, until)
    raw = build_report(store, "session", "UTC", since, until, use_rollup=False)
    assert summary(rollup) == summary(raw)
    assert rollup.total_usd == raw.total_usd
    assert rollup.events == raw.events
    return rollup


def session_span(store: Store, session: str) -> tuple[datetime, datetime, int]:
    row = store.query(
        "SELECT min(first_ts), max(last_ts), sum(events) FROM cost_sessions "
        "WHERE session_id = %(session)s",
        {"session": session},
    )[0]
    # The embedded engine returns naive UTC times.
    return row[0].replace(tzinfo=UTC), row[1].replace(tzinfo=UTC), row[2]


@pytest.fixture
def sessions(store: Store) -> Store:
    write_events(
        store,
        [
            event("a1", "s1", 3, "1.25"),
            event("a2", "s1", 20, "0.75"),
            event("a3", "s1", 50, None, model="mystery-model"),
            event("b1", "s2", 10, "4.00", project="api"),
            event("c1", "s3", 5, None, model="mystery-model"),
        ],
    )
    return store


def test_session_report_reads_rollup(sessions: Store) -> None:
    report = assert_paths_agree(sessions)
    assert [(row.key, row.cost_usd, row.events) for row in report.rows] == [
        ("s2", D("4.00"), 1),
        ("s1", D("2.00"), 3),
        ("s3", D(0), 1),
    ]
    assert report.total_usd == D("6.00")
    assert report.unpriced_events == 2
    assert report.rows[1].tokens == {"input": 300, "output": 30}


def test_session_rollup_keeps_span(sessions: Store) -> None:
    first, last, events = session_span(sessions, "s1")
    assert first == DAY + timedelta(hours=9, minutes=3)
    assert last == DAY + timedelta(hours=9, minutes=50)
    assert events == 3


def test_bucket_bounds_read_rollup(sessions: Store) -> None:
    since = DAY + timedelta(hours=9, minutes=15)
    until = DAY + timedelta(hours=9, minutes=45)
    assert can_use_session_rollup("session", since, until)
    report = assert_paths_agree(sessions, since, until)
    assert [(row.key, row.cost_usd) for row in report.rows] == [("s1", D("0.75"))]


def test_uneven_bounds_read_raw(sessions: Store) -> None:
    since = DAY + timedelta(hours=9, minutes=4)
    assert not can_use_session_rollup("session", since, None)
    assert not can_use_session_rollup("project", None, None)
    report = build_report(sessions, "session", "UTC", since)
    assert [(row.key, row.events) for row in report.rows] == [
        ("s2", 1),
        ("s1", 2),
        ("s3", 1),
    ]
    assert report.total_usd == D("4.75")


def test_grown_revision_counts_once(sessions: Store) -> None:
    grown = event("a2", "s1", 20, "2.50", output_tokens=400)
    assert write_events(sessions, [grown]).replaced == 1
    report = assert_paths_agree(sessions)
    s1 = next(row for row in report.rows if row.key == "s1")
    assert s1.cost_usd == D("3.75")
    assert s1.events == 3
    assert s1.tokens == {"input": 300, "output": 420}
    assert session_span(sessions, "s1")[2] == 3


def test_revision_moving_dimensions_agrees(sessions: Store) -> None:
    # A later revision arrives with another session and time: the writer keeps
    # the first ones, and moves the event to the new project and price.
    moved = event("b1", "other", 59, "5.00", project="renamed", output_tokens=90)
    write_events(sessions, [moved])
    report = assert_paths_agree(sessions)
    assert [(row.key, row.cost_usd) for row in report.rows][0] == ("s2", D("5.00"))
    first, last, events = session_span(sessions, "s2")
    assert first == DAY + timedelta(hours=9, minutes=10)
    assert last == first
    assert events == 1


def test_reimport_adds_nothing(sessions: Store) -> None:
    again = [
        event("a1", "s1", 3, "1.25"),
        event("a2", "s1", 20, "0.75"),
        event("a3", "s1", 50, None, model="mystery-model"),
        event("b1", "s2", 10, "4.00", project="api"),
    ]
    assert write_events(sessions, again).duplicates == 4
    # A second import with a grown revision, twice in one batch.
    grown = [
        event("a1", "s1", 3, "1.50", output_tokens=20),
        event("a1", "s1", 3, "1.75", output_tokens=30),
    ]
    assert write_events(sessions, grown).replaced == 1
    report = assert_paths_agree(sessions)
    assert report.total_usd == D("6.50")
    assert report.events == 5


def test_backfill_fills_existing_events(sessions: Store) -> None:
    write_events(sessions, [event("a2", "s1", 20, "2.50", output_tokens=400)])
    sessions.command("TRUNCATE TABLE cost_sessions")
    migration = next(item for item in load_migrations() if item.version == 5)
    for statement in backfill_statements(migration.sql):
        sessions.command(statement)
    report = assert_paths_agree(sessions)
    assert report.total_usd == D("7.75")
    assert session_span(sessions, "s1")[2] == 3


def test_backfill_only_for_event_views() -> None:
    by_version = {item.version: item for item in load_migrations()}
    assert backfill_statements(by_version[1].sql) == []
    inserts = backfill_statements(by_version[5].sql)
    assert len(inserts) == 1
    assert inserts[0].startswith("INSERT INTO cost_sessions\nSELECT")
    assert inserts[0].endswith("FROM cost_events FINAL")


def test_cluster_render_shards_sessions() -> None:
    migration = next(item for item in load_migrations() if item.version == 5)
    statements = split_statements(render(migration.sql, None, "c1"))
    head = re.compile(r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS (\w+)")
    names = []
    for statement in statements:
        match = head.match(statement)
        names.append(match.group(1) if match else "")
    assert names == ["cost_sessions_local", "cost_sessions", "cost_sessions_mv"]
    assert (
        "ENGINE = ReplicatedAggregatingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/cost_sessions_local', '{replica}')"
    ) in statements[0]
    assert statements[1].endswith(
        "ENGINE = Distributed('c1', currentDatabase(), cost_sessions_local, rand())"
    )
    assert " TO cost_sessions_local AS\n" in statements[2]
    assert statements[2].endswith("FROM cost_events_local")


def test_migration_backfills_stored_events(sessions: Store) -> None:
    # A store migrated before 0005, with events, gains cost_sessions filled.
    sessions.command("DROP TABLE cost_sessions_mv")
    sessions.command("DROP TABLE cost_sessions")
    sessions.command(
        "ALTER TABLE schema_migrations DELETE WHERE version = 5 "
        "SETTINGS mutations_sync = 1"
    )
    assert apply_migrations(sessions.client) == [5]
    report = assert_paths_agree(sessions)
    assert report.total_usd == D("6.00")
    assert report.events == 5
