"""``otel-cost reconcile`` on the real engine: output, exit codes and errors."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import orjson
from click.testing import CliRunner, Result
from reconcile_support import event, race, rollup_totals, second_writer

from otel_cost.cli.main import cli
from otel_cost.store import Store
from otel_cost.store.lease import acquire_lease

NOW_SETTLED = ["--settle-seconds", "0", "--pause-seconds", "0"]


def invoke(store: Store, *args: str) -> Result:
    return CliRunner().invoke(cli, ["reconcile", "--db", store.dsn, *args])


def test_cli_json_report(store: Store) -> None:
    race(store, second_writer(store), [event("e1", "0.25")])

    result = invoke(store, "--all", "--json", *NOW_SETTLED)

    assert result.exit_code == 0, result.output
    report = orjson.loads(result.output)
    assert report["start"] is None
    assert report["dry_run"] is False
    assert report["groups_corrected"] == 2
    rollup, sessions = report["tables"]
    assert rollup["table"] == "cost_rollup_15m"
    assert rollup["cost_usd_delta"] == "-0.25"
    assert rollup["tokens_delta"] == -1100
    assert sessions["table"] == "cost_sessions"
    assert sessions["events_delta"] == -1
    assert rollup_totals(store, "cost_rollup_15m") == (1, D("0.25"), 1000, 100)
    assert rollup_totals(store, "cost_sessions") == (1, D("0.25"), 1000, 100)


def test_cli_text_dry_run(store: Store) -> None:
    race(store, second_writer(store), [event("e1", "0.25")])

    result = invoke(
        store,
        "--since",
        "2026-11-20",
        "--until",
        "2026-11-21",
        "--dry-run",
        *NOW_SETTLED,
    )

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "range 2026-11-20T00:00:00+00:00 to 2026-11-21T00:00:00+00:00"
    assert lines[1] == (
        "cost_rollup_15m: 1 group checked, 1 to correct "
        "(events -1, cost -$0.25, tokens -1100)"
    )
    assert lines[3] == "dry run: 2 groups would be corrected"
    assert rollup_totals(store, "cost_rollup_15m")[0] == 2


def test_cli_unsettled_then_corrected(store: Store) -> None:
    race(store, second_writer(store), [event("e1", "0.25")])

    result = invoke(store, "--all", "--pause-seconds", "0")

    assert result.exit_code == 0, result.output
    assert "left for a later run: 1 with recent writes" in result.output
    assert result.output.splitlines()[-1] == (
        "nothing corrected; 2 groups left for a later run"
    )
    settled = invoke(store, "--all", *NOW_SETTLED)
    assert settled.output.splitlines()[-1] == "corrected 2 groups"
    again = invoke(store, "--all", *NOW_SETTLED)
    assert again.exit_code == 0
    assert again.output.splitlines()[-1] == "rollups match cost_events FINAL"


def test_cli_rejects_bad_options(store: Store) -> None:
    both = invoke(store, "--all", "--days", "2")
    assert both.exit_code == 2
    assert "--all cannot be combined" in both.output
    backwards = invoke(store, "--since", "2026-11-21", "--until", "2026-11-20")
    assert backwards.exit_code == 2
    assert "is not after --since" in backwards.output
    bad_time = invoke(store, "--since", "yesterday")
    assert bad_time.exit_code == 2
    assert "'yesterday' is not an ISO 8601 time" in bad_time.output


def test_cli_lease_held_error(store: Store) -> None:
    lease = acquire_lease(store, "reconcile", timedelta(hours=1))

    result = invoke(store, "--all", *NOW_SETTLED)

    assert result.exit_code == 1
    assert result.output == (
        f"error: the reconcile lease is held by {lease.holder} (term 1); wait for "
        "that run to finish or for its lease to expire\n"
    )
