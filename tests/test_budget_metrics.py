"""Prometheus lines for budget envelopes, from the real engine."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from otel_cost.budgets.envelopes import Envelope, Scope
from otel_cost.budgets.ledger import AuditRecord, append_audit
from otel_cost.budgets.metrics import budget_metric_lines
from otel_cost.events import CostEvent, CostStatus
from otel_cost.store import Store
from otel_cost.store.writer import write_events

NOW = datetime(2026, 12, 16, tzinfo=UTC)


def spend(store: Store, event_id: str, ts: datetime, cost: str, session: str) -> None:
    event = CostEvent(
        event_id=event_id, ts=ts, harness="claude-code", source="test",
        session_id=session, project="web", team="payments", model="claude-sonnet-4-5",
        cost_usd=Decimal(cost), cost_status=CostStatus.PRICED,
    )  # fmt: skip
    write_events(store, [event])


def test_metric_lines_hand_computed(store: Store) -> None:
    spend(store, "a", datetime(2026, 12, 10, tzinfo=UTC), "92", "s-old")
    spend(store, "b", datetime(2026, 12, 15, 23, 30, tzinfo=UTC), "0.40", "s-new")
    envelopes = [
        Envelope("web", Scope.PROJECT, Decimal("100"), match={"project": "web"},
                 team="payments", owner="team-lead"),
        Envelope("dev", Scope.SESSION, Decimal("0.5")),
    ]  # fmt: skip
    override = AuditRecord("override", "dev", "session", "s-new", "alice", ts=NOW)
    append_audit(store, [override])

    lines = budget_metric_lines(store, envelopes, NOW)

    web = (
        'envelope="web",scope="project",owner="team-lead",team="payments",project="web"'
    )
    dev = 'envelope="dev",scope="session",owner="developer",team="",project=""'
    assert (
        f'otel_cost_budget_spent_usd{{{web},budget_instance="2026-12-01"}} 92.4'
        in lines
    )
    assert (
        f'otel_cost_budget_limit_usd{{{web},budget_instance="2026-12-01"}} 100' in lines
    )
    assert (
        f'otel_cost_budget_utilisation_ratio{{{web},budget_instance="2026-12-01"}} 0.924'
        in lines
    )
    # Last 7 days burned 92.40 over 7 days; 16 days left: 92.4 + 92.4 / 7 * 16.
    projected = [
        line for line in lines if line.startswith("otel_cost_budget_projected")
    ]
    assert projected == [
        f'otel_cost_budget_projected_spend_usd{{{web},budget_instance="2026-12-01"}} '
        "303.6"
    ]
    # Only the session active in the last hour is reported, without a projection.
    assert f'otel_cost_budget_spent_usd{{{dev},budget_instance="s-new"}} 0.4' in lines
    assert (
        f'otel_cost_budget_utilisation_ratio{{{dev},budget_instance="s-new"}} 0.8'
        in lines
    )
    assert not any('budget_instance="s-old"' in line for line in lines)
    assert f"otel_cost_budget_overrides_24h{{{dev}}} 1" in lines
    assert f"otel_cost_budget_overrides_24h{{{web}}} 0" in lines
    assert "# TYPE otel_cost_budget_spent_usd gauge" in lines


def test_label_values_are_escaped(store: Store) -> None:
    envelope = Envelope("q", Scope.PROJECT, Decimal("1"), team='a"b\\c')
    lines = budget_metric_lines(store, [envelope], NOW)
    assert 'team="a\\"b\\\\c"' in lines[2]
