"""The writer's column-oriented insert stores every field as the row form would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D

from otel_cost.events import CostEvent, CostLine, CostStatus, FeeCategory, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.store import Store
from otel_cost.store.writer import EVENT_COLUMNS, event_columns, event_row, write_events

TS = datetime(2026, 11, 20, 10, 7, 30, 123000, tzinfo=UTC)


def full_event(event_id: str) -> CostEvent:
    return CostEvent(
        event_id=event_id,
        # A non-UTC offset must be stored as the same instant.
        ts=TS.astimezone(timezone(timedelta(hours=2))),
        harness="codex",
        source="otlp",
        session_id="s9",
        parent_session_id="s1",
        provider="openai",
        model_requested="gpt-5",
        model="gpt-5-2025-08-07",
        resolved_model="gpt-5",
        project="shop",
        task_type="review",
        user="ana",
        team="web",
        cost_center="cc7",
        git_repo="git@example.test:shop.git",
        git_branch="main",
        trace_id="ab" * 16,
        span_id="cd" * 8,
        operation="chat",
        tool_name="",
        outcome="error",
        error_type="timeout",
        latency_ms=1234,
        service_tier="flex",
        usage=Usage(
            tokens={T.INPUT: 100, T.CACHE_READ: 40, T.OUTPUT: 7, T.REASONING: 3},
            fees={FeeCategory.WEB_SEARCH: 2},
        ),
        attributes={"span.name": "responses"},
        reported_cost_usd=D("0.5"),
        pricing_version="litellm-2026-07-24",
        cost_status=CostStatus.PRICED,
        cost_usd=D("0.000250"),
        cost_lines=[
            CostLine("input", 100, D("0.000002"), D("0.000200")),
            CostLine("output", 7, D("0.000005"), D("0.000035")),
        ],
    )


def test_columns_match_row_form() -> None:
    events = [
        full_event("e1"),
        CostEvent(event_id="e2", ts=TS, harness="x", source="y"),
    ]
    columns = event_columns(events, 42)
    assert len(columns) == len(EVENT_COLUMNS)
    ingested = EVENT_COLUMNS.index("ingested_at")
    for position, event in enumerate(events):
        row = event_row(event, 42)
        from_columns = [column[position] for column in columns]
        assert from_columns[:ingested] == row[:ingested]
    assert columns[ingested][0] == columns[ingested][1]


def test_columnar_insert_stores_fields(store: Store) -> None:
    event = full_event("otlp:e1")
    write_events(store, [event])
    rows = store.query_dicts("SELECT * FROM cost_events FINAL")
    assert len(rows) == 1
    row = rows[0]
    assert row["ts"] == TS.replace(tzinfo=None)  # the store returns UTC, naive
    assert row["session_id"] == "s9"
    assert row["git_branch"] == "main"
    assert row["latency_ms"] == 1234
    assert row["service_tier"] == "flex"
    assert row["input_tokens"] == 100
    assert row["cache_read_tokens"] == 40
    assert row["reasoning_tokens"] == 3
    assert row["web_search_count"] == 2
    assert row["cost_status"] == "priced"
    assert row["cost_usd"] == D("0.000250")
    assert row["cost_by_category"] == {"input": D("0.0002"), "output": D("0.000035")}
    assert row["reported_cost_usd"] == D("0.5")
    assert row["attributes"] == {"span.name": "responses"}
