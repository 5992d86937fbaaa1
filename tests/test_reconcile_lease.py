"""The maintenance lease: one reconciler at a time, enforced in ClickHouse."""

from __future__ import annotations

from datetime import timedelta

import pytest
from reconcile_support import HookedClient, second_writer

from otel_cost.errors import ConfigError
from otel_cost.store import Store
from otel_cost.store.lease import (
    Lease,
    LeaseHeldError,
    acquire_lease,
    check_lease,
    release_lease,
)
from otel_cost.store.reconcile import Window, reconcile

HOUR = timedelta(hours=1)


def terms(store: Store) -> list[tuple[int, str]]:
    return store.query("SELECT term, holder FROM maintenance_leases ORDER BY term")


def test_lease_blocks_second_holder(store: Store) -> None:
    lease = acquire_lease(store, "reconcile", HOUR)

    with pytest.raises(LeaseHeldError, match=f"held by {lease.holder} \\(term 1\\)"):
        acquire_lease(second_writer(store), "reconcile", HOUR)
    with pytest.raises(LeaseHeldError, match="reconcile lease is held"):
        reconcile(store, Window(None, None), pause=timedelta(0))
    assert terms(store) == [(1, lease.holder)]


def test_released_lease_taken_again(store: Store) -> None:
    first = acquire_lease(store, "reconcile", HOUR)
    release_lease(store, first)

    second = acquire_lease(second_writer(store), "reconcile", HOUR)

    assert second.term == 3
    assert second.holder != first.holder
    assert terms(store) == [(1, first.holder), (2, first.holder), (3, second.holder)]
    with pytest.raises(LeaseHeldError, match="no longer the latest"):
        check_lease(store, first)
    check_lease(store, second)


def test_simultaneous_claim_one_winner(store: Store) -> None:
    # Another process inserts term 1 after this one read that no term exists.
    rival = Lease("reconcile", 1, "rival-host:1:abcd1234")
    rival_store = second_writer(store)

    def claim_first() -> None:
        rival_store.command(
            "INSERT INTO maintenance_leases SETTINGS insert_deduplicate = 1, "
            "insert_deduplication_token = 'reconcile-1' "
            "SELECT 'reconcile', 1, {holder:String}, now64(3), now64(3) + toIntervalHour(1)",
            {"holder": rival.holder},
        )

    racing = Store(
        HookedClient(store.client, claim_first, method="command"),
        store.dsn,
        store.database,
        store.embedded,
        store.path,
    )

    with pytest.raises(LeaseHeldError, match="taken by rival-host:1:abcd1234"):
        acquire_lease(racing, "reconcile", HOUR)
    assert terms(store) == [(1, rival.holder)]


def test_expired_lease_taken_over(store: Store) -> None:
    stale = acquire_lease(store, "reconcile", timedelta(seconds=1))
    store.command(
        "ALTER TABLE maintenance_leases UPDATE expires_at = now64(3) - toIntervalSecond(1) "
        "WHERE term = 1 SETTINGS mutations_sync = 2"
    )

    fresh = acquire_lease(second_writer(store), "reconcile", HOUR)

    assert fresh.term == 2
    with pytest.raises(LeaseHeldError, match="no longer the latest"):
        check_lease(store, stale)


def test_lease_rejects_bad_settings(store: Store) -> None:
    with pytest.raises(ConfigError, match="invalid lease name 'Re concile'"):
        acquire_lease(store, "Re concile", HOUR)
    with pytest.raises(ConfigError, match="too short"):
        acquire_lease(store, "reconcile", timedelta(milliseconds=10))


def test_unstored_claim_is_reported(store: Store) -> None:
    # Emptying the table keeps the remembered tokens, so term 1 is dropped.
    release_lease(store, acquire_lease(store, "reconcile", HOUR))
    store.command("DELETE FROM maintenance_leases WHERE 1")

    with pytest.raises(LeaseHeldError, match=r"term 1\) was not stored"):
        acquire_lease(store, "reconcile", HOUR)
    assert terms(store) == []


def test_higher_term_recovers_lease(store: Store) -> None:
    release_lease(store, acquire_lease(store, "reconcile", HOUR))
    store.command("DELETE FROM maintenance_leases WHERE 1")
    store.command(
        "INSERT INTO maintenance_leases VALUES "
        "('reconcile', 1000000, 'manual', now64(3), now64(3))"
    )

    lease = acquire_lease(store, "reconcile", HOUR)

    assert lease.term == 1000001
