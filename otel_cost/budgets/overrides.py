"""Overrides: lift or raise an envelope's limit for one session, task or period.

A session envelope is a soft limit, so anyone may override it. Task and
project envelopes are hard limits: only an approver named in the envelope may
override them. Every override goes to the ledger and to the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from otel_cost.budgets.envelopes import Envelope, Scope, find_envelope
from otel_cost.budgets.ledger import (
    AuditRecord,
    add_ledger_entry,
    append_audit,
    check_approver,
)
from otel_cost.budgets.periods import instance_key, period_start
from otel_cost.budgets.status import instance_status, project_status
from otel_cost.errors import ConfigError
from otel_cost.store import Store


def override_targets(
    envelopes: list[Envelope],
    session: str | None,
    task: str | None,
    envelope_name: str | None,
    actor: str,
) -> list[tuple[Envelope, str]]:
    """Return the (envelope, instance) pairs an override applies to.

    Without ``session`` or ``task`` the override applies to the current period
    of the project envelope ``envelope_name``. Raises `ConfigError` when nothing
    matches or the actor may not override a hard limit.
    """
    if session and task:
        raise ConfigError("give --session or --task, not both")
    if not (session or task or envelope_name):
        raise ConfigError("give one of --session S, --task T or --envelope NAME")
    chosen = [find_envelope(envelopes, envelope_name)] if envelope_name else envelopes
    if session:
        pairs = [(e, session) for e in chosen if e.scope is Scope.SESSION]
    elif task:
        pairs = [(e, task) for e in chosen if e.scope is Scope.TASK and e.task == task]
    else:
        now = datetime.now(UTC)
        pairs = [
            (e, instance_key(period_start(e.period, now)))
            for e in chosen
            if e.scope is Scope.PROJECT
        ]
    if not pairs:
        raise ConfigError(
            "no envelope matches this override; check --session, --task or --envelope"
        )
    for envelope, _ in pairs:
        if not envelope.soft:
            check_approver(envelope, actor)
    return pairs


def apply_override(
    store: Store,
    envelope: Envelope,
    instance: str,
    actor: str,
    reason: str,
    amount_usd: Decimal | None,
) -> None:
    """Write the override to the ledger and the audit log, with the spend so far."""
    if envelope.scope is Scope.PROJECT:
        spent = project_status(store, envelope, datetime.now(UTC)).spent_usd
    else:
        spent = instance_status(store, envelope, instance).spent_usd
    add_ledger_entry(
        store, envelope.name, instance, "override", amount_usd, actor, reason
    )
    record = AuditRecord(
        "override",
        envelope.name,
        envelope.scope.value,
        instance,
        actor,
        reason,
        amount_usd=amount_usd,
        limit_usd=envelope.limit_usd,
        spent_usd=spent,
        session_id=instance if envelope.scope is Scope.SESSION else "",
    )
    append_audit(store, [record])
