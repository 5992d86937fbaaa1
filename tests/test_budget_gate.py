"""Gates on the real engine: estimates from history and rates, verdicts, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

import pytest

from otel_cost.budgets.actions import Action, ActionKind, Verdict
from otel_cost.budgets.envelopes import Envelope, Scope
from otel_cost.budgets.gate import (
    SessionHistory,
    estimate_action,
    evaluate,
    session_history,
)
from otel_cost.budgets.ledger import add_ledger_entry, read_audit
from otel_cost.events import CostEvent, CostStatus, TokenCategory, Usage
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store
from otel_cost.store.writer import write_events

NOW = datetime(2026, 12, 16, 12, tzinfo=UTC)
_ids = count(1)


def call(
    store: Store,
    minute: int,
    output: int,
    cost: str,
    session: str = "s1",
    model: str = "claude-sonnet-4-5",
    project: str = "web",
) -> None:
    usage = Usage({TokenCategory.INPUT: 1000, TokenCategory.CACHE_READ: 9000,
                   TokenCategory.OUTPUT: output})  # fmt: skip
    event = CostEvent(
        event_id=f"g{next(_ids)}", ts=datetime(2026, 12, 16, 11, minute, tzinfo=UTC),
        harness="claude-code", source="test", session_id=session, project=project,
        model=model, usage=usage, cost_usd=Decimal(cost), cost_status=CostStatus.PRICED,
    )  # fmt: skip
    write_events(store, [event])


def read_action(session: str = "s1", size_bytes: int = 8000) -> Action:
    return Action(ActionKind.FILE_READ, "claude-code", session, cwd="/src/web",
                  added_tokens=size_bytes // 4, label="reading big.json")  # fmt: skip


def session_envelope(limit: str) -> Envelope:
    return Envelope(
        "dev", Scope.SESSION, Decimal(limit), match={"harness": "claude-code"}
    )


def test_history_summarises_recent_calls(store: Store) -> None:
    call(store, 1, 400, "0.02")
    call(store, 2, 600, "0.02")
    history = session_history(store, "s1")
    assert history.calls == 2
    assert history.model == "claude-sonnet-4-5"
    assert history.context_tokens == 10000
    assert history.mean_output_tokens == 500
    assert history.project == "web"


def test_estimate_from_history_and_rates(
    store: Store, registry: PricingRegistry
) -> None:
    call(store, 1, 400, "0.02")
    call(store, 2, 600, "0.02")
    estimate = estimate_action(
        read_action(), session_history(store, "s1"), registry, NOW
    )
    # 10,000 cached context x $0.30/M + 2,000 new input x $3/M + 500 output x $15/M.
    assert estimate.cost_usd == Decimal("0.0165")
    assert estimate.context_tokens == 10000
    assert estimate.added_tokens == 2000
    assert estimate.output_tokens == 500


def test_estimate_without_history(registry: PricingRegistry) -> None:
    action = Action(ActionKind.MODEL_CALL, "gemini", "g1", model="gemini-2.5-pro",
                    request_tokens=1000)  # fmt: skip
    estimate = estimate_action(action, SessionHistory(calls=0), registry, NOW)
    # 1,000 input x $1.25/M + 1,024 default output x $10/M.
    assert estimate.cost_usd == Decimal("0.01149")
    assert estimate.basis == "no history yet"


def test_unknown_model_is_unpriced(registry: PricingRegistry) -> None:
    action = Action(ActionKind.PROMPT, "codex", "c1", model="house-model-9",
                    added_tokens=100)  # fmt: skip
    estimate = estimate_action(action, SessionHistory(calls=0), registry, NOW)
    assert estimate.cost_usd is None


def test_deny_when_envelope_would_burst(
    store: Store, registry: PricingRegistry
) -> None:
    call(store, 1, 400, "0.02")
    call(store, 2, 600, "0.02")

    decision = evaluate(store, registry, [session_envelope("0.05")], read_action(), NOW)

    assert decision.verdict is Verdict.DENY
    finding = decision.findings[0]
    assert finding.status.spent_usd == Decimal("0.04")
    assert finding.spent_after_usd == Decimal("0.0565")
    assert "reading big.json is estimated at $0.0165" in decision.message
    assert "spent $0.04 of $0.05, $0.06 after this action" in decision.message
    assert 'otel-cost budget override --session s1 --reason "..."' in decision.message
    rows = read_audit(store)
    assert len(rows) == 1
    assert rows[0]["action"] == "denial"
    assert rows[0]["estimate_usd"] == Decimal("0.0165")
    assert rows[0]["spent_usd"] == Decimal("0.04")
    assert rows[0]["limit_usd"] == Decimal("0.05")
    assert rows[0]["session_id"] == "s1"


def test_warn_from_75_percent(store: Store, registry: PricingRegistry) -> None:
    call(store, 1, 400, "0.02")
    call(store, 2, 600, "0.02")
    decision = evaluate(store, registry, [session_envelope("0.07")], read_action(), NOW)
    # 0.0565 / 0.07 = 80.7%.
    assert decision.verdict is Verdict.WARN
    assert "would be at 81%" in decision.message
    assert read_audit(store) == []


def test_allow_well_under_limit(store: Store, registry: PricingRegistry) -> None:
    call(store, 1, 400, "0.02")
    decision = evaluate(store, registry, [session_envelope("1")], read_action(), NOW)
    assert decision.verdict is Verdict.ALLOW
    assert decision.message == ""


def test_override_turns_deny_into_warning(
    store: Store, registry: PricingRegistry
) -> None:
    call(store, 1, 400, "0.02")
    call(store, 2, 600, "0.02")
    add_ledger_entry(store, "dev", "s1", "override", None, "alice", "deadline")
    decision = evaluate(store, registry, [session_envelope("0.05")], read_action(), NOW)
    assert decision.verdict is Verdict.WARN
    assert "was lifted by an override" in decision.message


def test_override_amount_raises_limit(store: Store, registry: PricingRegistry) -> None:
    call(store, 1, 400, "0.02")
    call(store, 2, 600, "0.02")
    add_ledger_entry(store, "dev", "s1", "override", Decimal("0.01"), "alice", "x")
    decision = evaluate(store, registry, [session_envelope("0.05")], read_action(), NOW)
    # 0.0565 of 0.06 available is 94%: a warning, not a denial.
    assert decision.verdict is Verdict.WARN
    assert "would be at 94%" in decision.message


def test_filters_and_scopes_select_envelopes(
    store: Store, registry: PricingRegistry
) -> None:
    call(store, 1, 400, "0.02", session="t1")
    envelopes = [
        Envelope(
            "codex-only", Scope.SESSION, Decimal("0.001"), match={"harness": "codex"}
        ),
        Envelope("other-task", Scope.TASK, Decimal("0.001"), task="t9"),
        Envelope("this-task", Scope.TASK, Decimal("0.03"), task="t1"),
        Envelope("web", Scope.PROJECT, Decimal("0.001"), match={"project": "api"}),
    ]
    decision = evaluate(store, registry, envelopes, read_action("t1"), NOW)
    assert [f.status.envelope.name for f in decision.findings] == ["this-task"]
    assert decision.verdict is Verdict.DENY
    assert "an approver runs `otel-cost budget override --task t1" in decision.message


def test_project_deny_suggests_topup(store: Store, registry: PricingRegistry) -> None:
    call(store, 1, 400, "5")
    envelope = Envelope("web", Scope.PROJECT, Decimal("5"), match={"project": "web"})
    decision = evaluate(store, registry, [envelope], read_action(), NOW)
    assert decision.verdict is Verdict.DENY
    assert "envelope 'web' (period from 2026-12-01)" in decision.message
    assert "otel-cost budget topup request --envelope web" in decision.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"added_tokens": -5}, "'added_tokens' must be an integer >= 0, got -5"),
        ({"added_tokens": 2.5}, "'added_tokens' must be an integer >= 0, got 2.5"),
        ({"added_tokens": "9"}, "'added_tokens' must be an integer >= 0, got '9'"),
        ({"added_tokens": True}, "'added_tokens' must be an integer >= 0, got True"),
        ({"added_tokens": None}, "'added_tokens' must be an integer >= 0, got None"),
        ({"context_tokens": -1}, "'context_tokens' must be an integer >= 0, got -1"),
        ({"request_tokens": 1e3}, "'request_tokens' must be an integer >= 0"),
        ({"kind": "teleport"}, "'kind' must be one of file_read, edit,"),
        ({"session_id": 7}, "'session_id' must be a string, got 7"),
    ],
)
def test_action_from_dict_rejects_field(change: dict, message: str) -> None:  # type: ignore[type-arg]
    raw = {**read_action().to_dict(), **change}
    with pytest.raises(ValueError) as caught:
        Action.from_dict(raw)
    assert str(caught.value).startswith(message)


def test_action_from_dict_missing_field() -> None:
    raw = read_action().to_dict()
    del raw["harness"]
    with pytest.raises(ValueError, match="'harness' is missing"):
        Action.from_dict(raw)


def test_action_from_dict_round_trip() -> None:
    action = Action(ActionKind.MODEL_CALL, "gemini-cli", "s9", request_tokens=0,
                    context_tokens=None, added_tokens=0)  # fmt: skip
    assert Action.from_dict(action.to_dict()) == action
