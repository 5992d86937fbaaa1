"""The writer's duplicate lookup reads cost_event_ids, a narrow copy of the ids."""

from __future__ import annotations

from decimal import Decimal as D

from test_store_writer import make_event, raw_total, rollup_total

from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store
from otel_cost.store.writer import prepare_events, write_events, write_prepared

# claude-opus-4-8: 1000 input x 5e-06 + 100 output x 2.5e-05.
COST_1000_100 = D("0.0075")


def test_written_ids_reach_id_table(store: Store, registry: PricingRegistry) -> None:
    write_events(store, [registry.price_event(make_event("a", 1000, 10))])
    write_events(store, [registry.price_event(make_event("a", 1000, 100))])
    write_events(store, [registry.price_event(make_event("b", 1000, 100))])
    rows = store.query("SELECT id_hash, month FROM cost_event_ids FINAL")
    hashes = store.query("SELECT cityHash64('a'), cityHash64('b')")[0]
    # make_event times every event on 2026-11-20.
    assert sorted(rows) == sorted([(hashes[0], 202611), (hashes[1], 202611)])


def test_id_table_uses_small_granules(store: Store) -> None:
    engine = store.query(
        "SELECT engine_full FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'cost_event_ids'"
    )[0][0]
    assert "index_granularity = 256" in engine
    assert "max_compress_block_size = 8192" in engine


def test_archived_id_stored_as_new(store: Store, registry: PricingRegistry) -> None:
    # The hash of an id whose month was dropped from cost_events stays in
    # cost_event_ids.
    store.command(
        "INSERT INTO cost_event_ids "
        "VALUES (cityHash64('gone'), 202611), (cityHash64('gone2'), 202611)"
    )
    plain = write_events(store, [registry.price_event(make_event("gone", 1000, 100))])
    block = prepare_events(
        store, [registry.price_event(make_event("gone2", 1000, 100))]
    )
    assert block is not None
    prepared = write_prepared(store, [block])
    assert (plain.inserted, plain.duplicates) == (1, 0)
    assert (prepared.inserted, prepared.duplicates) == (1, 0)
    assert raw_total(store) == (2 * COST_1000_100, 2)
    assert rollup_total(store) == (2 * COST_1000_100, 2, 200)


def test_control_character_ids_fit_lookups(
    store: Store, registry: PricingRegistry
) -> None:
    # JSON writes each control character as six bytes and quoting adds a
    # seventh, so 45 ids of 1,020 such characters would make a 320 KB query,
    # over the 256 KiB limit, if they were not measured as written.
    ids = [f"{number:02d}" + "\x01" * 1020 for number in range(45)]
    events = [registry.price_event(make_event(event_id, 1000, 100)) for event_id in ids]
    block = prepare_events(store, events)
    assert block is not None
    first = write_prepared(store, [block])
    again = write_events(store, events)
    assert first.inserted == 45
    assert again.duplicates == 45
    assert raw_total(store) == (45 * COST_1000_100, 45)
