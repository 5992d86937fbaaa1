"""The writer never double counts: raw table and rollup agree after re-sends."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from otel_cost.events import CostEvent, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store
from otel_cost.store.writer import write_events

TS = datetime(2026, 11, 20, 10, 7, 30, tzinfo=UTC)


def make_event(
    event_id: str, input_tokens: int, output_tokens: int, **extra: object
) -> CostEvent:
    event = CostEvent(
        event_id=event_id,
        ts=TS,
        harness="claude-code",
        source="import",
        session_id="s1",
        model="claude-opus-4-8",
        project="shop",
        usage=Usage(tokens={T.INPUT: input_tokens, T.OUTPUT: output_tokens}),
    )
    return event.replace(**extra)


def raw_total(store: Store) -> tuple[D, int]:
    row = store.query("SELECT sum(cost_usd), count() FROM cost_events FINAL")[0]
    return row[0], row[1]


def rollup_total(store: Store) -> tuple[D, int, int]:
    row = store.query(
        "SELECT sum(cost_usd), sum(events), sum(output_tokens) FROM cost_rollup_15m"
    )[0]
    return row[0], row[1], row[2]


def test_resend_is_skipped(store: Store, registry: PricingRegistry) -> None:
    events = [registry.price_event(make_event("e1", 1000, 100))]
    first = write_events(store, events)
    again = write_events(store, [registry.price_event(make_event("e1", 1000, 100))])
    assert (first.inserted, again.duplicates, again.inserted) == (1, 1, 0)
    # claude-opus-4-8: 1000 x 5e-06 + 100 x 2.5e-05 = 0.0075
    assert raw_total(store) == (D("0.0075"), 1)
    assert rollup_total(store) == (D("0.0075"), 1, 100)
    assert again.cost_usd == D(0)


def test_grown_revision_replaces_once(store: Store, registry: PricingRegistry) -> None:
    write_events(store, [registry.price_event(make_event("e2", 1000, 10))])
    later = make_event(
        "e2", 1000, 500, ts=datetime(2026, 11, 20, 11, 0, tzinfo=UTC), session_id="s2"
    )
    result = write_events(store, [registry.price_event(later)])
    assert result.replaced == 1
    # 1000 x 5e-06 + 500 x 2.5e-05 = 0.0175
    assert raw_total(store) == (D("0.0175"), 1)
    assert rollup_total(store) == (D("0.0175"), 1, 500)
    row = store.query(
        "SELECT ts, session_id FROM cost_events FINAL WHERE event_id = 'e2'"
    )[0]
    assert row[0].replace(tzinfo=UTC) == TS
    assert row[1] == "s1"
    # The first revision cost 1000 x 5e-06 + 10 x 2.5e-05 = 0.00525.
    assert result.cost_usd == D("0.0175") - D("0.00525")


def test_batch_duplicates_keep_largest(store: Store, registry: PricingRegistry) -> None:
    events = [
        registry.price_event(make_event("e3", 10, 1)),
        registry.price_event(make_event("e3", 10, 9)),
        registry.price_event(make_event("e3", 10, 4)),
    ]
    result = write_events(store, events)
    assert result.inserted == 1
    assert store.query("SELECT output_tokens FROM cost_events FINAL")[0][0] == 9


def test_unpriced_event_keeps_tokens(store: Store, registry: PricingRegistry) -> None:
    event = registry.price_event(make_event("e4", 70, 30, model="private-model-x"))
    result = write_events(store, [event])
    assert result.unpriced == 1
    row = store.query(
        "SELECT cost_usd, cost_status, input_tokens, output_tokens FROM cost_events FINAL"
    )[0]
    assert row == (None, "unpriced", 70, 30)
    assert rollup_total(store)[1] == 1


def test_cost_by_category_stored(store: Store, registry: PricingRegistry) -> None:
    write_events(store, [registry.price_event(make_event("e5", 1000, 100))])
    stored = store.query("SELECT cost_by_category FROM cost_events FINAL")[0][0]
    assert stored == {"input": D("0.005"), "output": D("0.0025")}


def test_long_ids_split_lookups(store: Store, registry: PricingRegistry) -> None:
    # 6000 ids of 120 characters are far over the 256 KiB query limit at once.
    events = [
        registry.price_event(make_event(f"{'x' * 112}-{number:07d}", 1, 0))
        for number in range(6000)
    ]
    first = write_events(store, events)
    again = write_events(store, events)
    assert first.inserted == 6000
    assert again.duplicates == 6000
    assert store.query("SELECT count() FROM cost_events FINAL")[0][0] == 6000


def test_odd_ids_deduplicate(store: Store, registry: PricingRegistry) -> None:
    odd = ["it's", "back\\slash", "100%(ids)s", "new\nline", "ünïcode", "'; DROP--"]
    events = [registry.price_event(make_event(event_id, 10, 1)) for event_id in odd]
    first = write_events(store, events)
    again = write_events(store, events)
    assert first.inserted == len(odd)
    assert again.duplicates == len(odd)
    stored = {row[0] for row in store.query("SELECT event_id FROM cost_events FINAL")}
    assert stored == set(odd)
