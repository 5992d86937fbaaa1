"""Session panels read ``cost_sessions`` and show what ``cost_events FINAL`` shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from test_grafana_queries import DASHBOARDS, Request, panel_sql, run

from otel_cost.events import CostEvent, CostStatus, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.store import Store
from otel_cost.store.writer import write_events

START = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
# Both bounds on 15-minute boundaries, where rollup and raw events agree.
REQUEST = Request(start=START, end=START + timedelta(hours=3), login="dev")
FILTERS = (
    "$__conditionalAll(team IN (${team:singlequote}), $team)"
    " AND $__conditionalAll(project IN (${project:singlequote}), $project)"
    " AND $__conditionalAll(harness IN (${harness:singlequote}), $harness)"
    " AND $__conditionalAll(resolved_model IN (${model:singlequote}), $model)"
)
RAW_WHERE = f"$__timeFilter(ts) AND user = '${{__user.login}}' AND {FILTERS}"
TOKENS = "input_tokens + output_tokens"
# The panels' queries before cost_sessions existed, as the reference.
RAW_SESSIONS = (
    "SELECT uniqExactIf(session_id, session_id != '') AS sessions "
    f"FROM cost_events FINAL WHERE {RAW_WHERE}"
)
RAW_MY_SESSIONS = (
    "SELECT session_id, min(ts) AS started, max(ts) AS last_seen, "
    "count() AS events, sum(cost_usd) AS cost_usd, "
    "countIf(cost_status = 'unpriced') AS unpriced_events, "
    f"sum({TOKENS}) AS tokens FROM cost_events FINAL "
    f"WHERE {RAW_WHERE} AND session_id != '' GROUP BY session_id "
    "ORDER BY cost_usd DESC, last_seen DESC LIMIT 50"
)


def event(
    event_id: str,
    session: str,
    minutes: int,
    cost: str | None,
    *,
    user: str = "dev",
    project: str = "web",
    output_tokens: int = 10,
) -> CostEvent:
    """Build an event ``minutes`` after START; ``cost`` None makes it unpriced."""
    model = "claude-sonnet-4-5" if cost else "mystery-model"
    return CostEvent(
        event_id=event_id,
        ts=START + timedelta(minutes=minutes),
        harness="claude-code",
        source="hook",
        session_id=session,
        provider="anthropic",
        model=model,
        resolved_model=model if cost else "",
        project=project,
        user=user,
        team="frontend",
        usage=Usage(tokens={T.INPUT: 100, T.OUTPUT: output_tokens}),
        cost_status=CostStatus.UNPRICED if cost is None else CostStatus.PRICED,
        cost_usd=None if cost is None else Decimal(cost),
    )


@pytest.fixture
def revised(store: Store) -> Store:
    write_events(
        store,
        [
            event("e1", "s1", 5, "1.00"),
            event("e2", "s1", 40, "0.50"),
            event("e3", "s2", 70, "2.00", project="api"),
            event("e4", "s3", 100, None),
            event("e5", "s4", 20, "9.00", user="ana"),
            event("e6", "s5", 200, "3.00"),
        ],
    )
    # e2 grows; e3 grows and moves to another project.
    write_events(
        store,
        [
            event("e2", "s1", 40, "1.50", output_tokens=200),
            event("e3", "s2", 70, "2.25", project="web", output_tokens=50),
        ],
    )
    return store


def dashboards() -> dict[str, dict[str, Any]]:
    loaded = [json.loads(path.read_text()) for path in DASHBOARDS.glob("*.json")]
    return {dashboard["uid"]: dashboard for dashboard in loaded}


def my_sessions(store: Store, sql: str) -> list[tuple[Any, ...]]:
    columns, rows = run(store, sql, REQUEST)
    keep = ["session_id", "started", "last_seen", "events", "cost_usd"]
    keep += ["unpriced_events", "tokens"]
    indexes = [columns.index(name) for name in keep]
    return [tuple(row[index] for index in indexes) for row in rows]


def test_my_sessions_match_raw(revised: Store) -> None:
    sql = panel_sql(dashboards(), "otel-cost-developer", "My sessions")
    assert "cost_sessions" in sql
    rows = my_sessions(revised, sql)
    assert rows == my_sessions(revised, RAW_MY_SESSIONS)
    naive = START.replace(tzinfo=None)
    assert rows == [
        ("s1", naive + timedelta(minutes=5), naive + timedelta(minutes=40), 2,
         Decimal("2.5"), 0, 410),
        ("s2", naive + timedelta(minutes=70), naive + timedelta(minutes=70), 1,
         Decimal("2.25"), 0, 150),
        ("s3", naive + timedelta(minutes=100), naive + timedelta(minutes=100), 1,
         None, 1, 110),
    ]  # fmt: skip


def test_project_filter_drops_moved_event(revised: Store) -> None:
    sql = panel_sql(dashboards(), "otel-cost-developer", "My sessions")
    api = Request(
        start=REQUEST.start,
        end=REQUEST.end,
        login="dev",
        variables={"project": ["api"]},
    )
    columns, rows = run(revised, sql, api)
    assert rows == []
    web = Request(
        start=REQUEST.start,
        end=REQUEST.end,
        login="dev",
        variables={"project": ["web"]},
    )
    _, rows = run(revised, sql, web)
    assert [row[columns.index("session_id")] for row in rows] == ["s1", "s2", "s3"]


def test_sessions_stat_matches_raw(revised: Store) -> None:
    sql = panel_sql(dashboards(), "otel-cost-developer", "Sessions")
    assert "cost_sessions" in sql
    _, rows = run(revised, sql, REQUEST)
    _, raw = run(revised, RAW_SESSIONS, REQUEST)
    assert rows[0][0] == raw[0][0]
    assert rows[0][0] == 3
    api = Request(
        start=REQUEST.start,
        end=REQUEST.end,
        login="dev",
        variables={"project": ["api"]},
    )
    _, rows = run(revised, sql, api)
    assert rows[0][0] == 0
