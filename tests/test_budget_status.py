"""Envelope status on the real engine: spend, projection, rollover, top-ups, overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import count
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from otel_cost.budgets.envelopes import Envelope, Rollover, Scope, parse_envelopes
from otel_cost.budgets.ledger import (
    add_ledger_entry,
    decide_topup,
    read_audit,
    request_topup,
)
from otel_cost.budgets.status import (
    State,
    carried_over,
    envelope_statuses,
    project_status,
    state_for,
)
from otel_cost.cli.main import cli
from otel_cost.errors import ConfigError
from otel_cost.events import CostEvent, CostStatus
from otel_cost.store import Store
from otel_cost.store.writer import write_events

NOW = datetime(2026, 12, 16, tzinfo=UTC)
_ids = count(1)


def spend(
    store: Store,
    ts: datetime,
    cost: str | None,
    project: str = "web",
    session: str = "s1",
    harness: str = "claude-code",
) -> None:
    status = CostStatus.UNPRICED if cost is None else CostStatus.PRICED
    event = CostEvent(
        event_id=f"e{next(_ids)}", ts=ts, harness=harness, source="test",
        session_id=session, project=project, model="claude-sonnet-4-5",
        cost_usd=None if cost is None else Decimal(cost), cost_status=status,
    )  # fmt: skip
    write_events(store, [event])


def web(limit: str = "100", **changes: object) -> Envelope:
    envelope = Envelope("web", Scope.PROJECT, Decimal(limit), match={"project": "web"})
    return envelope if not changes else Envelope(**{**envelope.__dict__, **changes})


def test_project_status_hand_computed(store: Store) -> None:
    spend(store, datetime(2026, 11, 30, 23, tzinfo=UTC), "50")  # last month
    spend(store, datetime(2026, 12, 1, 12, tzinfo=UTC), "20")
    spend(store, datetime(2026, 12, 10, tzinfo=UTC), "30")
    spend(store, datetime(2026, 12, 12, tzinfo=UTC), "99", project="other")
    spend(store, datetime(2026, 12, 14, tzinfo=UTC), None)
    spend(store, datetime(2026, 12, 15, tzinfo=UTC), "14")

    status = project_status(store, web(), NOW)

    assert status.instance == "2026-12-01"
    assert status.spent_usd == Decimal("64")
    assert status.available_usd == Decimal("100")
    assert status.remaining_usd == Decimal("36")
    assert status.ratio == Decimal("0.64")
    assert status.state is State.OK
    assert status.unpriced_events == 1
    # Last 7 days (Dec 9 to 16) burned 30 + 14 = 44; 16 days remain: 64 + 44/7*16.
    assert status.projected_usd is not None
    assert status.projected_usd.quantize(Decimal("0.0001")) == Decimal("164.5714")


def test_projection_uses_elapsed_when_short(store: Store) -> None:
    spend(store, datetime(2026, 12, 1, 6, tzinfo=UTC), "3")
    status = project_status(store, web(), datetime(2026, 12, 2, tzinfo=UTC))
    # One day elapsed at $3/day, 30 days left: 3 + 90.
    assert status.projected_usd == Decimal("93")


@pytest.mark.parametrize(
    ("ratio", "state"),
    [("0.7499", State.OK), ("0.75", State.WARNING), ("0.8999", State.WARNING),
     ("0.90", State.CRITICAL), ("1", State.EXCEEDED), ("1.3", State.EXCEEDED)],
)  # fmt: skip
def test_state_thresholds(ratio: str, state: State) -> None:
    assert state_for(Decimal(ratio)) is state


def test_capped_rollover_accumulates(store: Store) -> None:
    spend(store, datetime(2026, 10, 5, tzinfo=UTC), "60")
    spend(store, datetime(2026, 11, 5, tzinfo=UTC), "120")
    envelope = web(rollover=Rollover("capped", Decimal("30"), date(2026, 10, 1)))
    # October: 100 - 60 = 40 unspent, capped at 30. November: 130 - 120 = 10.
    assert carried_over(store, envelope, datetime(2026, 11, 1, tzinfo=UTC)) == 30
    assert carried_over(store, envelope, datetime(2026, 12, 1, tzinfo=UTC)) == 10
    assert project_status(store, envelope, NOW).available_usd == Decimal("110")


def test_use_it_or_lose_it(store: Store) -> None:
    spend(store, datetime(2026, 11, 5, tzinfo=UTC), "10")
    assert project_status(store, web(), NOW).carried_usd == 0


def test_topup_needs_named_approver(store: Store) -> None:
    envelope = web(approvers=("bob",))
    topup_id = request_topup(
        store, envelope, "2026-12-01", Decimal("25"), "alice", "demo"
    )
    with pytest.raises(ConfigError, match="'alice' requested this top-up"):
        decide_topup(store, web(approvers=("bob", "alice")), topup_id, "alice", True)
    with pytest.raises(ConfigError, match="'carol' may not approve"):
        decide_topup(store, envelope, topup_id, "carol", True)

    decided = decide_topup(store, envelope, topup_id, "bob", True, "release week")

    assert decided["status"] == "approved"
    assert decided["decided_by"] == "bob"
    status = project_status(store, envelope, NOW)
    assert status.adjustments.topups_usd == Decimal("25")
    assert status.available_usd == Decimal("125")
    with pytest.raises(ConfigError, match="is already approved"):
        decide_topup(store, envelope, topup_id, "bob", True)
    actions = [
        (row["action"], row["actor"], row["amount_usd"]) for row in read_audit(store)
    ]
    assert sorted(actions) == [
        ("topup_approve", "bob", Decimal("25")),
        ("topup_request", "alice", Decimal("25")),
    ]


def test_envelope_without_approvers_rejects(store: Store) -> None:
    topup_id = request_topup(store, web(), "2026-12-01", Decimal("5"), "alice", "x")
    with pytest.raises(ConfigError, match="names no approvers"):
        decide_topup(store, web(), topup_id, "bob", True)


def test_session_statuses_per_session(store: Store) -> None:
    spend(store, datetime(2026, 12, 15, 20, tzinfo=UTC), "0.30", session="a")
    spend(store, datetime(2026, 12, 15, 22, tzinfo=UTC), "0.95", session="b")
    spend(store, datetime(2026, 12, 15, 23, tzinfo=UTC), "0.10", session="b",
          harness="codex")  # fmt: skip
    envelope = Envelope(
        "dev", Scope.SESSION, Decimal("1"), match={"harness": "claude-code"}
    )
    add_ledger_entry(store, "dev", "b", "override", None, "alice", "finishing")

    statuses = envelope_statuses(store, envelope, NOW)

    assert [(s.instance, s.spent_usd, s.state) for s in statuses] == [
        ("b", Decimal("0.95"), State.CRITICAL),
        ("a", Decimal("0.30"), State.OK),
    ]
    assert statuses[0].adjustments.lifted is True


def test_cli_status_zero_limit(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(
        "envelopes:\n"
        "  - {name: spent, scope: task, task: s1, limit_usd: 0}\n"
        "  - {name: idle, scope: task, task: s2, limit_usd: 0}\n"
    )
    spend(store, datetime(2026, 12, 10, tzinfo=UTC), "1050.67")
    runner = CliRunner()
    args = ["--at", "2026-12-16T00:00:00Z", "--file", str(path)]

    status = runner.invoke(cli, ["budget", "status", *args])
    as_json = runner.invoke(cli, ["budget", "status", "--json", *args])

    assert status.exit_code == 0, status.output
    assert status.output.splitlines() == [
        "spent [task s1] EXCEEDED: $1050.67 spent with $0.00 available, $1050.67 over",
        "idle [task s2] OK: $0.00 spent with $0.00 available, $0.00 left",
    ]
    assert "%" not in status.output
    assert as_json.exit_code == 0, as_json.output
    payloads = {item["envelope"]: item for item in orjson.loads(as_json.output)}
    assert payloads["spent"]["percent"] == "100"
    assert payloads["spent"]["state"] == "exceeded"
    assert payloads["idle"]["percent"] == "0"


def test_cli_status_and_override(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(
        "envelopes:\n"
        "  - {name: web, scope: project, limit_usd: 100, match: {project: web},"
        " approvers: [bob]}\n"
        "  - {name: long, scope: task, task: s1, limit_usd: 50, approvers: [bob]}\n"
    )
    spend(store, datetime(2026, 12, 10, tzinfo=UTC), "80")
    runner = CliRunner()
    args = ["--file", str(path)]

    status = runner.invoke(
        cli, ["budget", "status", "--at", "2026-12-16T00:00:00Z", *args]
    )

    assert status.exit_code == 0, status.output
    assert status.output.splitlines() == [
        "web [project 2026-12-01] WARNING: $80.00 of $100.00 (80.0%), $20.00 left, "
        "projected $262.86",
        "long [task s1] EXCEEDED: $80.00 of $50.00 (160.0%), $30.00 over",
    ]
    denied = runner.invoke(
        cli,
        ["budget", "override", "--task", "s1", "--reason", "x", "--as", "eve", *args],
    )
    assert denied.exit_code == 1
    assert "'eve' may not approve for envelope 'long'" in denied.output

    allowed = runner.invoke(
        cli,
        ["budget", "override", "--task", "s1", "--reason", "migration must finish",
         "--amount", "40", "--as", "bob", *args],
    )  # fmt: skip
    assert allowed.exit_code == 0, allowed.output
    rows = read_audit(store)
    assert len(rows) == 1
    assert rows[0]["action"] == "override"
    assert rows[0]["actor"] == "bob"
    assert rows[0]["reason"] == "migration must finish"
    assert rows[0]["amount_usd"] == Decimal("40")
    assert rows[0]["spent_usd"] == Decimal("80")
    task_status = envelope_statuses(
        store,
        parse_envelopes(
            {
                "envelopes": [
                    {"name": "long", "scope": "task", "task": "s1", "limit_usd": 50}
                ]
            }
        )[0],
    )[0]
    assert task_status.available_usd == Decimal("90")


def test_session_override_needs_no_approver(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text("envelopes:\n  - {name: dev, scope: session, limit_usd: 1}\n")
    spend(store, datetime(2026, 12, 10, tzinfo=UTC), "1.20", session="s5")
    runner = CliRunner()

    result = runner.invoke(
        cli,
        ["budget", "override", "--session", "s5", "--reason", "demo tomorrow",
         "--as", "dana", "--file", str(path)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.output == "dev [session s5]: limit lifted\n"
    row = read_audit(store)[0]
    assert (row["action"], row["actor"], row["instance"]) == ("override", "dana", "s5")
    assert row["amount_usd"] is None
    assert row["spent_usd"] == Decimal("1.20")
    both = runner.invoke(
        cli,
        ["budget", "override", "--session", "s5", "--task", "t", "--reason", "x",
         "--file", str(path)],
    )  # fmt: skip
    assert both.exit_code == 1
    assert "give --session or --task, not both" in both.output


def test_cli_session_envelope_without_sessions(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text("envelopes:\n  - {name: dev, scope: session, limit_usd: 5}\n")
    spend(store, datetime(2026, 12, 10, tzinfo=UTC), "1")
    status = CliRunner().invoke(
        cli, ["budget", "status", "--at", "2027-06-01T00:00:00Z", "--file", str(path)]
    )
    assert status.exit_code == 0, status.output
    assert status.output.splitlines() == [
        "dev [session]: no session in the last 24 hours; pass --session ID to see one"
    ]
