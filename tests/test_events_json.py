"""The cost-event JSON Schema: round trips and field-naming errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from otel_cost.events import (
    CostEvent,
    CostStatus,
    FeeCategory,
    Usage,
)
from otel_cost.events import (
    TokenCategory as T,
)
from otel_cost.events_json import InvalidEventError, event_from_json, event_to_json


def sample_event() -> CostEvent:
    return CostEvent(
        event_id="proxy:abc",
        ts=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        harness="claude-code",
        source="proxy",
        session_id="s1",
        model="claude-opus-4-8",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        latency_ms=812,
        usage=Usage(
            tokens={T.INPUT: 10, T.CACHE_WRITE_1H: 5}, fees={FeeCategory.WEB_SEARCH: 1}
        ),
        reported_cost_usd=Decimal("0.0123"),
        cost_status=CostStatus.ESTIMATED,
    )


def test_event_round_trip() -> None:
    event = sample_event()
    back = event_from_json(event_to_json(event))
    assert back.event_id == event.event_id
    assert back.ts == event.ts
    assert back.usage == event.usage
    assert back.reported_cost_usd == Decimal("0.0123")
    assert back.trace_id == event.trace_id
    assert back.latency_ms == 812
    assert back.cost_status is CostStatus.ESTIMATED


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"usage": {"input": -1}}, "usage/input"),
        ({"usage": {"inputs": 1}}, "usage"),
        ({"source": "carrier-pigeon"}, "source"),
        ({"trace_id": "XYZ"}, "trace_id"),
        ({"reported_cost_usd": 0.5}, "reported_cost_usd"),
    ],
)
def test_invalid_field_is_named(change: dict, field: str) -> None:  # type: ignore[type-arg]
    payload = {**event_to_json(sample_event()), **change}
    with pytest.raises(InvalidEventError, match=f"'{field}'"):
        event_from_json(payload)


@pytest.mark.parametrize("amount", ["-500", "-0.01", "-0"])
def test_negative_reported_cost_rejected(amount: str) -> None:
    payload = {**event_to_json(sample_event()), "reported_cost_usd": amount}
    with pytest.raises(InvalidEventError) as caught:
        event_from_json(payload)
    message = str(caught.value)
    assert message.startswith("invalid cost event field 'reported_cost_usd'")
    assert repr(amount) in message
    assert "USD >= 0" in message


def test_zero_reported_cost_accepted() -> None:
    payload = {**event_to_json(sample_event()), "reported_cost_usd": "0"}
    assert event_from_json(payload).reported_cost_usd == Decimal("0")


def test_missing_required_field() -> None:
    payload = event_to_json(sample_event())
    del payload["harness"]
    with pytest.raises(InvalidEventError, match="'harness' is a required property"):
        event_from_json(payload)


def test_time_without_zone_rejected() -> None:
    payload = {**event_to_json(sample_event()), "ts": "2026-11-20T09:00:00"}
    with pytest.raises(InvalidEventError, match="has no zone"):
        event_from_json(payload)
