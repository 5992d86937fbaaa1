"""Reconciler windows, session time bounds and archived months, on the real engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from reconcile_support import TS, event, race, rollup_totals, second_writer

from otel_cost.errors import ConfigError
from otel_cost.store import Store
from otel_cost.store.reconcile import ReconcileReport, Window, reconcile, window_for
from otel_cost.store.writer import write_events

NOW = datetime(2026, 12, 4, 17, 52, 9, tzinfo=UTC)
ALL = Window(None, None)


def run(store: Store, window: Window = ALL) -> ReconcileReport:
    return reconcile(store, window, settle=timedelta(0), pause=timedelta(0))


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def test_window_defaults_to_three_days() -> None:
    window = window_for(None, None, None, now=NOW)
    assert window.start == datetime(2026, 12, 1, 17, 45, tzinfo=UTC)
    assert window.end is None


def test_window_days_and_bounds() -> None:
    assert window_for(None, None, 1, now=NOW).start == datetime(
        2026, 12, 3, 17, 45, tzinfo=UTC
    )
    assert window_for(None, None, 0, now=NOW) == Window(None, None)
    since = datetime(2026, 11, 20, 10, 7, 30, tzinfo=UTC)
    until = datetime(2026, 11, 21, 0, 14, tzinfo=UTC)
    window = window_for(since, until, None, now=NOW)
    assert window.start == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert window_for(None, until, None, now=NOW).start is None


def test_window_rejects_bad_ranges() -> None:
    since = datetime(2026, 11, 20, 10, 7, tzinfo=UTC)
    with pytest.raises(ConfigError, match="not after --since"):
        window_for(since, since + timedelta(minutes=5), None, now=NOW)
    with pytest.raises(ConfigError, match="not both"):
        window_for(since, None, 2, now=NOW)
    with pytest.raises(ConfigError, match="invalid number of days -1"):
        window_for(None, None, -1, now=NOW)


def test_window_excludes_outside_groups(store: Store) -> None:
    race(store, second_writer(store), [event("e1", "0.25")])
    before = Window(
        datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    )

    report = run(store, before)

    assert [table.groups_checked for table in report.tables] == [0, 0]
    assert rollup_totals(store, "cost_rollup_15m") == (2, D("0.5"), 2000, 200)


def test_archived_month_left_alone(store: Store) -> None:
    october = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
    write_events(store, [event("old", "2", ts=october, session="s0")])
    store.command("ALTER TABLE cost_events DROP PARTITION ID '202610'")
    race(store, second_writer(store), [event("e1", "0.25")])

    report = run(store)

    for table in report.tables:
        assert table.months_without_events == ["202610"]
        assert table.archived_months == []
        assert table.groups_archived == 1
        assert table.groups_corrected == 1
        assert table.cost_usd_delta == D("-0.25")
    # October keeps its archived total; November counts its event once.
    assert rollup_totals(store, "cost_rollup_15m") == (2, D("2.25"), 2000, 200)
    assert rollup_totals(store, "cost_sessions") == (2, D("2.25"), 2000, 200)


def test_missing_session_group_rebuilt(store: Store) -> None:
    later = TS + timedelta(minutes=4)
    write_events(store, [event("e1", "0.25"), event("e2", "0.5", ts=later)])
    store.command("DELETE FROM cost_sessions WHERE session_id = 's1'")

    report = run(store)

    rollup, sessions = report.tables
    assert rollup.groups_corrected == 0
    assert sessions.groups_corrected == 1
    assert sessions.events_delta == 2
    assert sessions.cost_usd_delta == D("0.75")
    rows = store.query(
        "SELECT session_id, sum(events), sum(cost_usd), min(first_ts), max(last_ts) "
        "FROM cost_sessions GROUP BY session_id"
    )
    assert rows == [("s1", 2, D("0.75"), naive(TS), naive(later))]


def test_late_first_ts_lowered(store: Store) -> None:
    write_events(store, [event("e1", "0.25")])
    # A stored row whose first_ts is later than the event: a correction can lower it.
    store.command("DELETE FROM cost_sessions WHERE session_id = 's1'")
    store.command(
        "INSERT INTO cost_sessions (bucket, user, session_id, harness, provider, "
        "resolved_model, model, project, team, cost_status, first_ts, last_ts, "
        "events, cost_usd, input_tokens, output_tokens) "
        "SELECT toStartOfFifteenMinutes(ts), user, session_id, harness, provider, "
        "resolved_model, model, project, team, cost_status, ts + 60, ts, 1, "
        "cost_usd, input_tokens, output_tokens FROM cost_events FINAL"
    )

    report = run(store)

    sessions = report.tables[1]
    assert sessions.groups_corrected == 1
    assert sessions.events_delta == 0
    assert sessions.bounds_unfixable == 0
    first_ts = store.query("SELECT min(first_ts) FROM cost_sessions")[0][0]
    assert first_ts == naive(TS)
    assert run(store).corrected == 0


def test_early_first_ts_unfixable(store: Store) -> None:
    write_events(store, [event("e1", "0.25")])
    store.command(
        "INSERT INTO cost_sessions (bucket, user, session_id, harness, provider, "
        "resolved_model, model, project, team, cost_status, first_ts, last_ts, "
        "events) SELECT bucket, user, session_id, harness, provider, "
        "resolved_model, model, project, team, cost_status, first_ts - 60, "
        "last_ts, 0 FROM cost_sessions"
    )

    report = run(store)

    assert report.bounds_unfixable == 1
    assert report.corrected == 0


def test_phantom_rollup_group_removed(store: Store) -> None:
    write_events(store, [event("e1", "0.25")])
    # A rollup row with no event behind it, in another bucket and project.
    store.command(
        "INSERT INTO cost_rollup_15m (bucket, harness, project, cost_status, events, "
        "cost_usd, input_tokens) VALUES "
        "('2026-11-20 13:30:00', 'codex', 'ghost', 'priced', 1, 4.5, 300)"
    )

    report = run(store)

    rollup = report.tables[0]
    assert rollup.groups_checked == 2
    assert rollup.groups_corrected == 1
    assert rollup.events_delta == -1
    assert rollup.cost_usd_delta == D("-4.5")
    assert rollup.tokens_delta == -300
    ghost = store.query(
        "SELECT sum(events), sum(cost_usd) FROM cost_rollup_15m WHERE project = 'ghost'"
    )
    assert ghost == [(0, D(0))]
    assert rollup_totals(store, "cost_rollup_15m") == (1, D("0.25"), 1000, 100)
