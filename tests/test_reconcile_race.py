"""Two writers racing on one database, and the reconciler repairing the rollups.

The race is reproduced with the real writer: writer B runs a whole
``write_events`` between writer A's lookup and A's first insert, which is the
window two ``otel-cost serve`` replicas share when both receive one event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from reconcile_support import (
    TS,
    event,
    event_totals,
    race,
    rollup_totals,
    second_writer,
)

from otel_cost.store import Store
from otel_cost.store.reconcile import ReconcileReport, Window, reconcile
from otel_cost.store.writer import write_events

LATER = datetime(2026, 11, 20, 11, 40, tzinfo=UTC)
WINDOW = Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
SETTLED = timedelta(0)
NO_PAUSE = timedelta(0)


@pytest.fixture
def second_store(store: Store) -> Iterator[Store]:
    """Another writer's store: its own client on the same database."""
    yield second_writer(store)


def run(store: Store, **options: Any) -> ReconcileReport:
    settings: dict[str, Any] = {"settle": SETTLED, "pause": NO_PAUSE, **options}
    return reconcile(store, WINDOW, **settings)


def test_race_double_counts_rollups(store: Store, second_store: Store) -> None:
    first, second = race(store, second_store, [event("e1", "0.25")])

    assert first.inserted == 1
    assert second.inserted == 1
    assert event_totals(store) == (1, D("0.25"), 1000, 100)
    assert rollup_totals(store, "cost_rollup_15m") == (2, D("0.5"), 2000, 200)
    assert rollup_totals(store, "cost_sessions") == (2, D("0.5"), 2000, 200)


def test_reconcile_repairs_double_count(store: Store, second_store: Store) -> None:
    race(store, second_store, [event("e1", "0.25"), event("e2", "0.000000000001")])
    write_events(store, [event("e3", "1.5", 2000, 300, ts=LATER, session="s2")])

    report = run(store)

    # Events: 0.25 + 0.000000000001 + 1.5; tokens 1000 + 1000 + 2000, 100 + 100 + 300.
    expected = (3, D("1.750000000001"), 4000, 500)
    assert event_totals(store) == expected
    assert rollup_totals(store, "cost_rollup_15m") == expected
    assert rollup_totals(store, "cost_sessions") == expected
    rollup, sessions = report.tables
    assert rollup.table == "cost_rollup_15m"
    assert rollup.groups_checked == 2
    assert rollup.groups_corrected == 1
    assert rollup.events_delta == -2
    assert rollup.cost_usd_delta == D("-0.250000000001")
    assert rollup.tokens_delta == -2200
    assert sessions.groups_checked == 2
    assert sessions.groups_corrected == 1
    assert sessions.cost_usd_delta == D("-0.250000000001")
    assert report.corrected == 2


def test_second_run_corrects_nothing(store: Store, second_store: Store) -> None:
    race(store, second_store, [event("e1", "0.25")])
    run(store)

    again = run(store)

    assert again.corrected == 0
    assert [table.groups_checked for table in again.tables] == [1, 1]
    assert [table.cost_usd_delta for table in again.tables] == [D(0), D(0)]
    assert rollup_totals(store, "cost_rollup_15m") == (1, D("0.25"), 1000, 100)


def test_dry_run_changes_nothing(store: Store, second_store: Store) -> None:
    race(store, second_store, [event("e1", "0.25")])
    rows_before = store.query("SELECT count() FROM cost_rollup_15m")[0][0]

    report = run(store, dry_run=True)

    assert report.dry_run is True
    assert report.corrected == 2
    assert report.tables[0].cost_usd_delta == D("-0.25")
    assert rollup_totals(store, "cost_rollup_15m") == (2, D("0.5"), 2000, 200)
    assert store.query("SELECT count() FROM cost_rollup_15m")[0][0] == rows_before
    assert store.query("SELECT count() FROM maintenance_leases")[0][0] == 0


def test_recent_bucket_left_alone(store: Store, second_store: Store) -> None:
    race(store, second_store, [event("e1", "0.25")])

    report = run(store, settle=timedelta(minutes=10))

    assert report.corrected == 0
    assert [table.groups_unsettled for table in report.tables] == [1, 1]
    assert rollup_totals(store, "cost_rollup_15m") == (2, D("0.5"), 2000, 200)


def test_unpriced_stays_unpriced(store: Store, second_store: Store) -> None:
    race(store, second_store, [event("u1", None), event("p1", "0.5")])

    run(store)

    rows = store.query(
        "SELECT cost_status, resolved_model, sum(events), sum(cost_usd) "
        "FROM cost_rollup_15m GROUP BY cost_status, resolved_model "
        "ORDER BY cost_status"
    )
    assert rows == [
        ("priced", "claude-opus-4-8", 1, D("0.5")),
        ("unpriced", "", 1, D(0)),
    ]
    stored = store.query("SELECT cost_usd FROM cost_events FINAL WHERE event_id = 'u1'")
    assert stored == [(None,)]
    sessions = store.query(
        "SELECT cost_status, sum(events) FROM cost_sessions "
        "GROUP BY cost_status ORDER BY cost_status"
    )
    assert sessions == [("priced", 1), ("unpriced", 1)]


def test_grown_revision_race_repaired(store: Store, second_store: Store) -> None:
    write_events(store, [event("e1", "0.1", 1000, 10)])
    grown = event("e1", "0.4", 1000, 400, ts=LATER, session="s9")

    first, second = race(store, second_store, [grown])

    assert (first.replaced, second.replaced) == (1, 1)
    # Both writers removed v1 and added v2: 0.1 - 0.1 - 0.1 + 0.4 + 0.4 = 0.7.
    assert rollup_totals(store, "cost_rollup_15m") == (1, D("0.7"), 1000, 790)
    run(store)
    assert event_totals(store) == (1, D("0.4"), 1000, 400)
    assert rollup_totals(store, "cost_rollup_15m") == (1, D("0.4"), 1000, 400)
    assert rollup_totals(store, "cost_sessions") == (1, D("0.4"), 1000, 400)
    bounds = store.query(
        "SELECT session_id, min(first_ts), max(last_ts) FROM cost_sessions "
        "GROUP BY session_id HAVING sum(events) != 0"
    )
    # The replacing revision keeps the first revision's time and session.
    assert bounds == [("s1", TS.replace(tzinfo=None), TS.replace(tzinfo=None))]


class SecondPassHookStore(Store):
    """A store that runs ``between`` once, before the reconciler's second pass."""

    def __init__(self, base: Store, between: Callable[[], object]) -> None:
        super().__init__(
            client=base.client,
            dsn=base.dsn,
            database=base.database,
            embedded=base.embedded,
            path=base.path,
        )
        self.between: Callable[[], object] | None = between
        self.event_reads = 0

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        # Each pass reads cost_events FINAL once per rollup, so the third read
        # starts the second pass.
        if "FROM cost_events FINAL" in sql:
            self.event_reads += 1
            if self.event_reads == 3 and self.between is not None:
                self.between()
        return super().query(sql, parameters)


def test_changing_difference_left_alone(store: Store, second_store: Store) -> None:
    race(store, second_store, [event("e1", "0.25")])
    hooked = SecondPassHookStore(
        store, lambda: race(store, second_store, [event("e2", "1")])
    )

    report = reconcile(hooked, WINDOW, settle=SETTLED, pause=NO_PAUSE)

    assert [table.groups_changing for table in report.tables] == [1, 1]
    assert report.corrected == 0
    assert rollup_totals(store, "cost_rollup_15m") == (4, D("2.5"), 4000, 400)
    assert run(store).corrected == 2
    assert rollup_totals(store, "cost_rollup_15m") == (2, D("1.25"), 2000, 200)


def test_consistent_write_between_passes(store: Store, second_store: Store) -> None:
    race(store, second_store, [event("e1", "0.25")])
    late = event("e3", "1", ts=TS + timedelta(minutes=1))
    hooked = SecondPassHookStore(store, lambda: write_events(second_store, [late]))

    report = reconcile(hooked, WINDOW, settle=SETTLED, pause=NO_PAUSE)

    # The late write adds the same to both sides, so the difference holds.
    assert [table.groups_changing for table in report.tables] == [0, 0]
    assert report.corrected == 2
    assert event_totals(store) == (2, D("1.25"), 2000, 200)
    assert rollup_totals(store, "cost_rollup_15m") == (2, D("1.25"), 2000, 200)
