"""Budget gates: estimate what an action will cost and decide whether it may run.

The estimate prices the next model turn that the action causes: the session's
current context read from cache, the tokens the action adds sent as uncached
input, and the mean output and reasoning tokens of the session's recent calls.
An action that would take an envelope instance past its available budget is
denied, unless an override lifted the limit. From 75% of the available budget
the action runs with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from otel_cost.budgets.actions import Action, Verdict
from otel_cost.budgets.envelopes import Envelope, Scope
from otel_cost.budgets.ledger import AuditRecord, append_audit
from otel_cost.budgets.status import (
    EnvelopeStatus,
    State,
    instance_status,
    project_status,
    state_for,
)
from otel_cost.events import CostStatus, TokenCategory, Usage
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

logger = logging.getLogger(__name__)

# Output tokens assumed for a session with no recorded calls yet (an estimate).
DEFAULT_OUTPUT_TOKENS = 1024
HISTORY_CALLS = 20
_SEVERITY = {Verdict.ALLOW: 0, Verdict.WARN: 1, Verdict.DENY: 2}


@dataclass(frozen=True)
class SessionHistory:
    """Summary of the session's recent calls, used to estimate the next one."""

    calls: int
    model: str = ""
    project: str = ""
    user: str = ""
    team: str = ""
    parent_session_id: str = ""
    context_tokens: int = 0
    mean_output_tokens: int = 0
    mean_reasoning_tokens: int = 0


@dataclass(frozen=True)
class Estimate:
    """The estimated cost of an action's next model turn."""

    model: str
    context_tokens: int
    added_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal | None
    basis: str


@dataclass
class Finding:
    """Verdict of one envelope instance on the action, with the spend after it."""

    status: EnvelopeStatus
    spent_after_usd: Decimal
    verdict: Verdict


@dataclass
class GateDecision:
    """The gate's decision: the verdict, the numbers behind it and the message."""

    verdict: Verdict
    estimate: Estimate | None
    findings: list[Finding] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form, with money as decimal strings."""
        return {
            "verdict": self.verdict.value,
            "message": self.message,
            "estimate_usd": _text(self.estimate.cost_usd) if self.estimate else None,
            "model": self.estimate.model if self.estimate else "",
            "envelopes": [
                {
                    "envelope": f.status.envelope.name,
                    "scope": f.status.envelope.scope.value,
                    "instance": f.status.instance,
                    "verdict": f.verdict.value,
                    "spent_usd": _text(f.status.spent_usd),
                    "available_usd": _text(f.status.available_usd),
                    "spent_after_usd": _text(f.spent_after_usd),
                }
                for f in self.findings
            ],
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def session_history(store: Store, session_id: str) -> SessionHistory:
    """Return the summary of the session's most recent calls (empty when none)."""
    if not session_id:
        return SessionHistory(calls=0)
    rows = store.query_dicts(
        "SELECT model, project, user, team, parent_session_id, "
        "input_tokens + cache_read_tokens + cache_write_5m_tokens "
        "+ cache_write_1h_tokens "
        "AS prompt_tokens, output_tokens, reasoning_tokens "
        "FROM cost_events FINAL WHERE session_id = {session:String} AND model != '' "
        f"ORDER BY ts DESC LIMIT {HISTORY_CALLS}",
        {"session": session_id},
    )
    if not rows:
        return SessionHistory(calls=0)
    latest = rows[0]
    return SessionHistory(
        calls=len(rows),
        model=latest["model"],
        project=latest["project"],
        user=latest["user"],
        team=latest["team"],
        parent_session_id=latest["parent_session_id"],
        context_tokens=int(latest["prompt_tokens"]),
        mean_output_tokens=sum(int(r["output_tokens"]) for r in rows) // len(rows),
        mean_reasoning_tokens=sum(int(r["reasoning_tokens"]) for r in rows)
        // len(rows),
    )


def estimate_action(
    action: Action, history: SessionHistory, registry: PricingRegistry, now: datetime
) -> Estimate:
    """Price the next model turn the action causes; unpriced models cost None."""
    model = action.model or history.model
    output = history.mean_output_tokens if history.calls else DEFAULT_OUTPUT_TOKENS
    reasoning = history.mean_reasoning_tokens if history.calls else 0
    if action.request_tokens is not None:
        tokens = {TokenCategory.INPUT: action.request_tokens}
        context = action.request_tokens
    else:
        context = history.context_tokens
        if not history.calls and action.context_tokens is not None:
            context = action.context_tokens
        tokens = {
            TokenCategory.CACHE_READ: context,
            TokenCategory.INPUT: action.added_tokens,
        }
    tokens[TokenCategory.OUTPUT] = output
    tokens[TokenCategory.REASONING] = reasoning
    usage = Usage(tokens={key: count for key, count in tokens.items() if count})
    cost = None
    if model:
        quote = registry.quote(model, usage, now)
        if quote.status is CostStatus.PRICED and quote.priced is not None:
            cost = quote.priced.total_usd
    basis = (
        f"mean of the last {history.calls} call{'' if history.calls == 1 else 's'}"
        if history.calls
        else "no history yet"
    )
    return Estimate(model, context, action.added_tokens, output, reasoning, cost, basis)


def matching_instances(
    envelopes: list[Envelope], action: Action, history: SessionHistory, model: str
) -> list[tuple[Envelope, str]]:
    """Return (envelope, instance) pairs whose filters and scope cover the action."""
    attributes = {
        "project": history.project or (Path(action.cwd).name if action.cwd else ""),
        "harness": action.harness,
        "model": model,
        "user": history.user or action.user,
        "team": history.team,
    }
    pairs = []
    for envelope in envelopes:
        if any(attributes[key] != value for key, value in envelope.match.items()):
            continue
        if envelope.scope is Scope.SESSION and action.session_id:
            pairs.append((envelope, action.session_id))
        elif envelope.scope is Scope.TASK and envelope.task in (
            action.session_id,
            history.parent_session_id,
        ):
            pairs.append((envelope, envelope.task))
        elif envelope.scope is Scope.PROJECT:
            pairs.append((envelope, ""))
    return pairs


def evaluate(
    store: Store,
    registry: PricingRegistry,
    envelopes: list[Envelope],
    action: Action,
    now: datetime | None = None,
) -> GateDecision:
    """Estimate the action, check every matching envelope and record any denial."""
    now = now or datetime.now(UTC)
    history = session_history(store, action.session_id)
    estimate = estimate_action(action, history, registry, now)
    findings = []
    for envelope, instance in matching_instances(
        envelopes, action, history, estimate.model
    ):
        if envelope.scope is Scope.PROJECT:
            status = project_status(store, envelope, now)
        else:
            status = instance_status(store, envelope, instance)
        findings.append(judge(status, estimate.cost_usd))
    verdict = max(
        (f.verdict for f in findings), key=_SEVERITY.__getitem__, default=Verdict.ALLOW
    )
    decision = GateDecision(verdict, estimate, findings)
    decision.message = describe(decision, action)
    if verdict is Verdict.DENY:
        record_denials(store, decision, action)
    return decision


def judge(status: EnvelopeStatus, estimate_usd: Decimal | None) -> Finding:
    """Return the verdict of one envelope instance for an action of that cost."""
    after = status.spent_usd + (estimate_usd or Decimal(0))
    available = status.available_usd
    bursts = after > available or (available > 0 and status.spent_usd >= available)
    if bursts and not status.adjustments.lifted:
        return Finding(status, after, Verdict.DENY)
    if status.adjustments.lifted:
        return Finding(status, after, Verdict.WARN)
    ratio = after / available if available > 0 else Decimal(0)
    verdict = Verdict.ALLOW if state_for(ratio) is State.OK else Verdict.WARN
    return Finding(status, after, verdict)


def describe(decision: GateDecision, action: Action) -> str:
    """Return the message shown to the model and the user, with the numbers."""
    relevant = [f for f in decision.findings if f.verdict is decision.verdict]
    if decision.verdict is Verdict.ALLOW or not relevant:
        return ""
    estimate = decision.estimate
    cost = "unknown (model unpriced)"
    if estimate is not None and estimate.cost_usd is not None:
        cost = f"${estimate.cost_usd:.4f}"
    action_name = action.label or action.kind.value.replace("_", " ")
    lines = [f"otel-cost budget gate: {action_name} is estimated at {cost}."]
    for finding in relevant:
        lines.append(_finding_line(finding))
    if decision.verdict is Verdict.DENY:
        lines.append(
            "Stop and tell the user; do not retry this action until they "
            "raise the budget."
        )
    return " ".join(lines)


def _finding_line(finding: Finding) -> str:
    status = finding.status
    envelope = status.envelope
    where = f"envelope {envelope.name!r} ({envelope.scope.value} {status.instance})"
    if envelope.scope is Scope.PROJECT:
        where = f"envelope {envelope.name!r} (period from {status.instance})"
    numbers = (
        f"spent ${status.spent_usd:.2f} of ${status.available_usd:.2f}, "
        f"${finding.spent_after_usd:.2f} after this action"
    )
    if finding.verdict is Verdict.DENY:
        return (
            f"It would exceed {where}: {numbers}. To continue: {override_hint(status)}."
        )
    if status.adjustments.lifted:
        return f"The limit of {where} was lifted by an override: {numbers}."
    percent = finding.spent_after_usd / status.available_usd * 100
    return f"The {where} would be at {percent:.0f}%: {numbers}."


def override_hint(status: EnvelopeStatus) -> str:
    """Return the command that lifts or raises the envelope's limit."""
    envelope = status.envelope
    if envelope.scope is Scope.SESSION:
        return (
            f"run `otel-cost budget override --session {status.instance} "
            '--reason "..."`'
        )
    if envelope.scope is Scope.TASK:
        return (
            f"an approver runs `otel-cost budget override --task {status.instance} "
            '--reason "..." --as NAME`'
        )
    return (
        "request a top-up with `otel-cost budget topup request "
        f'--envelope {envelope.name} --amount USD --reason "..."` '
        "and have an approver approve it"
    )


def record_denials(store: Store, decision: GateDecision, action: Action) -> None:
    """Append one audit record per envelope instance that denied the action."""
    estimate = decision.estimate
    records = [
        AuditRecord(
            action="denial",
            envelope=f.status.envelope.name,
            scope=f.status.envelope.scope.value,
            instance=f.status.instance,
            actor=action.user or "agent",
            reason=f"{action.kind.value} would exceed the envelope",
            limit_usd=f.status.available_usd,
            spent_usd=f.status.spent_usd,
            estimate_usd=estimate.cost_usd if estimate else None,
            harness=action.harness,
            session_id=action.session_id,
            details={
                "model": estimate.model if estimate else "",
                "label": action.label,
            },
        )
        for f in decision.findings
        if f.verdict is Verdict.DENY
    ]
    append_audit(store, records)
