"""Budget status stays right when two writers share one database and race."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from reconcile_support import TS, event, race, rollup_totals, second_writer

from otel_cost.budgets.envelopes import Envelope, Scope
from otel_cost.budgets.ledger import add_ledger_entry
from otel_cost.budgets.status import State, instance_status, project_status
from otel_cost.store import Store
from otel_cost.store.writer import write_events

NOW = datetime(2026, 11, 25, tzinfo=UTC)
SHOP = Envelope("shop", Scope.PROJECT, D("1"), match={"project": "shop"})
SESSION = Envelope("per-session", Scope.SESSION, D("0.5"), match={"project": "shop"})


def test_project_spend_ignores_double_count(store: Store) -> None:
    replica = second_writer(store)
    race(store, replica, [event("e1", "0.25"), event("e2", "0.5"), event("u1", None)])

    # The rollup counts every event twice, but spend reads cost_events FINAL.
    assert rollup_totals(store, "cost_rollup_15m")[:2] == (6, D("1.5"))
    for reader in (store, replica):
        status = project_status(reader, SHOP, NOW)
        assert status.spent_usd == D("0.75")
        assert status.unpriced_events == 1
        assert status.state is State.WARNING
        assert status.instance == "2026-11-01"


def test_grown_revision_race_spend(store: Store) -> None:
    replica = second_writer(store)
    write_events(store, [event("e1", "0.25", 1000, 10)])
    race(store, replica, [event("e1", "0.95", 1000, 900)])

    for reader in (store, replica):
        status = project_status(reader, SHOP, NOW)
        assert status.spent_usd == D("0.95")
        assert status.state is State.CRITICAL


def test_topup_from_other_replica(store: Store) -> None:
    replica = second_writer(store)
    race(store, replica, [event("e1", "0.9")])
    add_ledger_entry(replica, "shop", "2026-11-01", "topup", D("2"), "bob", "launch")

    status = project_status(store, SHOP, NOW)

    assert status.spent_usd == D("0.9")
    assert status.available_usd == D("3")
    assert status.ratio == D("0.3")
    assert status.state is State.OK


def test_session_spend_ignores_double_count(store: Store) -> None:
    replica = second_writer(store)
    later = TS.replace(minute=50)
    race(store, replica, [event("e1", "0.3"), event("e2", "0.3", ts=later)])

    for reader in (store, replica):
        status = instance_status(reader, SESSION, "s1")
        assert status.spent_usd == D("0.6")
        assert status.remaining_usd == D("-0.1")
        assert status.state is State.EXCEEDED
