"""Session events read the latest revision of each event of that session only."""

from __future__ import annotations

from datetime import UTC, datetime

from otel_cost.events import CostEvent, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.serve.queries import session_events
from otel_cost.store import Store
from otel_cost.store.writer import write_events

TS = datetime(2026, 11, 20, 10, 7, 30, tzinfo=UTC)


def chat(event_id: str, session_id: str, output_tokens: int) -> CostEvent:
    return CostEvent(
        event_id=event_id,
        ts=TS,
        harness="claude-code",
        source="otlp",
        session_id=session_id,
        model="claude-opus-4-8",
        usage=Usage(tokens={T.INPUT: 10, T.OUTPUT: output_tokens}),
    )


def test_session_events_latest_revision(store: Store) -> None:
    write_events(store, [chat("e1", "s1", 5), chat("e2", "s2", 1)])
    # A later revision names another session; the event stays in the first.
    write_events(store, [chat("e1", "s9", 40)])

    first = session_events(store, "s1", 100)
    assert [row["event_id"] for row in first] == ["e1"]
    assert first[0]["tokens"]["output"] == 40
    assert session_events(store, "s9", 100) == []
    assert [row["event_id"] for row in session_events(store, "s2", 100)] == ["e2"]
