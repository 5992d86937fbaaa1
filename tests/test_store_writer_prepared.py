"""Blocks encoded ahead of the write store the same rows as the plain writer."""

from __future__ import annotations

from decimal import Decimal as D

from test_store_writer import make_event, raw_total, rollup_total

from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store
from otel_cost.store.writer import (
    EVENT_COLUMNS,
    PreparedEvents,
    prepare_events,
    write_events,
    write_prepared,
)

# claude-opus-4-8: input 5e-06 and output 2.5e-05 USD per token.
COST_1000_100 = D("0.0075")


def prepared(
    store: Store, registry: PricingRegistry, *specs: tuple[str, int, int]
) -> PreparedEvents:
    events = [registry.price_event(make_event(*spec)) for spec in specs]
    block = prepare_events(store, events)
    assert block is not None
    return block


def test_new_events_insert_blocks(store: Store, registry: PricingRegistry) -> None:
    first = prepared(store, registry, ("p1", 1000, 100), ("p2", 1000, 100))
    second = prepared(store, registry, ("p3", 1000, 100))
    result = write_prepared(store, [first, second])
    assert (result.inserted, result.duplicates, result.replaced) == (3, 0, 0)
    assert result.cost_usd == 3 * COST_1000_100
    assert raw_total(store) == (3 * COST_1000_100, 3)
    assert rollup_total(store) == (3 * COST_1000_100, 3, 300)


def test_block_rows_match_plain_writer(store: Store, registry: PricingRegistry) -> None:
    event = registry.price_event(make_event("same", 1000, 100))
    write_prepared(store, [prepared(store, registry, ("same", 1000, 100))])
    columns = ", ".join(
        name for name in EVENT_COLUMNS if name not in ("version", "ingested_at")
    )
    block_row = store.query(f"SELECT {columns} FROM cost_events")[0]
    store.command("TRUNCATE TABLE cost_events")
    write_events(store, [event])
    plain_row = store.query(f"SELECT {columns} FROM cost_events")[0]
    assert block_row == plain_row


def test_stored_id_takes_plain_path(store: Store, registry: PricingRegistry) -> None:
    write_events(store, [registry.price_event(make_event("old", 1000, 10))])
    batch = prepared(store, registry, ("old", 1000, 100), ("new", 1000, 100))
    result = write_prepared(store, [batch])
    # "old" grew from 10 to 100 output tokens; "new" is new.
    assert (result.inserted, result.replaced) == (1, 1)
    assert raw_total(store) == (2 * COST_1000_100, 2)
    assert rollup_total(store) == (2 * COST_1000_100, 2, 200)


def test_repeated_id_across_blocks_counts_once(
    store: Store, registry: PricingRegistry
) -> None:
    first = prepared(store, registry, ("twice", 1000, 50))
    second = prepared(store, registry, ("twice", 1000, 100))
    result = write_prepared(store, [first, second])
    assert (result.inserted, result.replaced, result.duplicates) == (1, 0, 0)
    assert raw_total(store) == (COST_1000_100, 1)
    assert rollup_total(store) == (COST_1000_100, 1, 100)


def test_unpriced_block_stays_unpriced(store: Store, registry: PricingRegistry) -> None:
    event = registry.price_event(make_event("mystery", 70, 30, model="no-such-model"))
    block = prepare_events(store, [event])
    assert block is not None
    result = write_prepared(store, [block])
    assert result.unpriced == 1
    row = store.query("SELECT cost_usd, cost_status FROM cost_events")[0]
    assert row == (None, "unpriced")
