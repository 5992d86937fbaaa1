"""Reports read from the rollup return what the raw events return."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from otel_cost.events import CostEvent, CostStatus, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.reports.report import (
    GROUPINGS,
    Report,
    build_report,
    can_use_rollup,
    day_bounds,
)
from otel_cost.store import Store
from otel_cost.store.writer import write_events

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def event(
    event_id: str,
    ts: datetime,
    cost: str | None,
    *,
    model: str = "claude-sonnet-4-5",
    project: str = "shop",
    harness: str = "claude-code",
    status: CostStatus = CostStatus.PRICED,
    input_tokens: int = 100,
    output_tokens: int = 10,
) -> CostEvent:
    """Build an event with a cost given by hand. ``cost`` None makes it unpriced."""
    return CostEvent(
        event_id=event_id,
        ts=ts,
        harness=harness,
        source="import",
        session_id=f"session-{event_id}",
        provider="anthropic",
        model=model,
        resolved_model=model if cost else "",
        project=project,
        usage=Usage(tokens={T.INPUT: input_tokens, T.OUTPUT: output_tokens}),
        cost_status=CostStatus.UNPRICED if cost is None else status,
        cost_usd=None if cost is None else D(cost),
    )


def summary(report: Report) -> tuple[object, ...]:
    rows = [
        (row.key, row.cost_usd, row.events, row.unpriced_events, row.estimated_events,
         row.tokens)
        for row in report.rows
    ]  # fmt: skip
    return (
        rows,
        report.total_usd,
        report.events,
        report.unpriced_events,
        report.estimated_events,
    )


def assert_paths_agree(
    store: Store,
    tz: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> None:
    for group_by in GROUPINGS:
        rollup = build_report(store, group_by, tz, since, until)
        raw = build_report(store, group_by, tz, since, until, use_rollup=False)
        assert summary(rollup) == summary(raw), group_by


@pytest.fixture
def mixed(store: Store) -> Store:
    write_events(
        store,
        [
            event("a", DAY + timedelta(hours=9, minutes=3), "1.25"),
            event("b", DAY + timedelta(hours=9, minutes=14), "0.50", model="gpt-5",
                  harness="codex", status=CostStatus.ESTIMATED),
            event("c", DAY + timedelta(hours=23, minutes=59), None,
                  model="mystery-model", project="api"),
            event("d", DAY + timedelta(days=1, hours=2), "3.00", project="api"),
        ],
    )  # fmt: skip
    return store


def test_paths_agree_every_grouping(mixed: Store) -> None:
    assert_paths_agree(mixed, "UTC")
    report = build_report(mixed, "model", "UTC")
    assert report.total_usd == D("4.75")
    assert report.events == 4
    assert report.unpriced_events == 1
    assert report.estimated_events == 1
    keys = {row.key: row.cost_usd for row in report.rows}
    assert keys == {
        "claude-sonnet-4-5": D("4.25"),
        "gpt-5": D("0.50"),
        "mystery-model": D(0),
    }


def test_paths_agree_within_range(mixed: Store) -> None:
    start, end = day_bounds(date(2026, 11, 20), date(2026, 11, 20), "UTC")
    assert can_use_rollup("project", start, end)
    assert_paths_agree(mixed, "UTC", start, end)
    report = build_report(mixed, "project", "UTC", start, end)
    assert {row.key: row.events for row in report.rows} == {"shop": 2, "api": 1}
    assert report.total_usd == D("1.75")


def test_replaced_revision_counts_once(store: Store) -> None:
    write_events(store, [event("r", DAY + timedelta(hours=10), "1.00")])
    grown = event("r", DAY + timedelta(hours=10), "2.50", output_tokens=500)
    assert write_events(store, [grown]).replaced == 1
    assert_paths_agree(store, "UTC")
    report = build_report(store, "harness", "UTC")
    assert report.total_usd == D("2.50")
    assert report.events == 1
    assert report.rows[0].tokens == {"input": 100, "output": 500}


def test_revision_moving_project_leaves_none(store: Store) -> None:
    write_events(store, [event("m", DAY + timedelta(hours=10), "1.00")])
    moved = event("m", DAY, "2.00", project="renamed", output_tokens=90)
    write_events(store, [moved])
    assert_paths_agree(store, "UTC")
    rows = build_report(store, "project", "UTC").rows
    assert [(row.key, row.events, row.cost_usd) for row in rows] == [
        ("renamed", 1, D("2.00"))
    ]


def test_kolkata_days_from_buckets(store: Store) -> None:
    # 18:20 UTC is 23:50 in Kolkata (+05:30), 18:35 UTC is 00:05 the next day.
    write_events(
        store,
        [
            event("k1", DAY + timedelta(hours=18, minutes=20), "1.00"),
            event("k2", DAY + timedelta(hours=18, minutes=35), "2.00"),
        ],
    )
    assert_paths_agree(store, "Asia/Kolkata")
    days = build_report(store, "day", "Asia/Kolkata").rows
    assert [(row.key, row.cost_usd) for row in days] == [
        ("2026-11-20", D("1.00")),
        ("2026-11-21", D("2.00")),
    ]
    start, end = day_bounds(date(2026, 11, 21), date(2026, 11, 21), "Asia/Kolkata")
    assert start == DAY + timedelta(hours=18, minutes=30)
    assert can_use_rollup("day", start, end)
    assert_paths_agree(store, "Asia/Kolkata", start, end)
    assert build_report(store, "day", "Asia/Kolkata", start, end).total_usd == D("2")


def test_uneven_bounds_read_raw(mixed: Store) -> None:
    since = DAY + timedelta(hours=9, minutes=10)
    assert not can_use_rollup("project", since, None)
    assert not can_use_rollup("session", None, None)
    assert can_use_rollup("project", None, None)
    report = build_report(mixed, "project", "UTC", since)
    assert report.total_usd == D("3.50")
    assert report.events == 3
