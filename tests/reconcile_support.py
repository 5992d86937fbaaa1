"""Helpers for the reconciler tests: events, and two writers racing on one database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

from otel_cost.events import CostEvent, CostStatus, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.store import Store, open_store
from otel_cost.store.writer import WriteResult, write_events

TS = datetime(2026, 11, 20, 10, 7, 30, tzinfo=UTC)


def second_writer(store: Store) -> Store:
    """Return another writer's store: its own client on the same database."""
    return open_store(store.dsn, store.database)


class HookedClient:
    """A ClickHouse client that runs ``before`` once, ahead of its first ``method`` call.

    Every other call goes to the real client unchanged.
    """

    def __init__(
        self, client: Any, before: Callable[[], object], method: str = "insert"
    ) -> None:
        self.client = client
        self.before: Callable[[], object] | None = before
        self.method = method

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.client, name)
        if name != self.method or self.before is None:
            return target
        before, self.before = self.before, None
        before()
        return target


def hooked(store: Store, before_insert: Callable[[], object]) -> Store:
    """Return ``store`` with a client that runs ``before_insert`` first."""
    client = HookedClient(store.client, before_insert)
    return Store(client, store.dsn, store.database, store.embedded, store.path)


def event(
    event_id: str,
    cost: str | None,
    input_tokens: int = 1000,
    output_tokens: int = 100,
    ts: datetime = TS,
    session: str = "s1",
) -> CostEvent:
    status = CostStatus.UNPRICED if cost is None else CostStatus.PRICED
    return CostEvent(
        event_id=event_id, ts=ts, harness="claude-code", source="otlp",
        session_id=session, project="shop", user="ana", model="claude-opus-4-8",
        resolved_model="" if cost is None else "claude-opus-4-8",
        usage=Usage(tokens={T.INPUT: input_tokens, T.OUTPUT: output_tokens}),
        cost_usd=None if cost is None else D(cost), cost_status=status,
    )  # fmt: skip


def race(
    store: Store, other: Store, events: list[CostEvent]
) -> tuple[WriteResult, WriteResult]:
    """Write ``events`` through two writers whose lookups both run first.

    Writer B runs a whole write after writer A's lookup and before A's first
    insert, so neither finds the other's rows.
    """
    results: list[WriteResult] = []
    racing = hooked(store, lambda: results.append(write_events(other, events)))
    first = write_events(racing, events)
    return first, results[0]


def rollup_totals(store: Store, table: str) -> tuple[int, D, int, int]:
    row = store.query(
        "SELECT sum(events), sum(cost_usd), sum(input_tokens), sum(output_tokens) "
        f"FROM {table}"
    )[0]
    return int(row[0]), row[1], int(row[2]), int(row[3])


def event_totals(store: Store) -> tuple[int, D | None, int, int]:
    row = store.query(
        "SELECT count(), sum(cost_usd), sum(input_tokens), sum(output_tokens) "
        "FROM cost_events FINAL"
    )[0]
    return int(row[0]), row[1], int(row[2]), int(row[3])
