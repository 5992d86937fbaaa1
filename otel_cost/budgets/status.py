"""Envelope status: spent, remaining, utilisation, projection and state.

States follow the utilisation ratio (spent / available): ``ok`` under 0.75,
``warning`` from 0.75, ``critical`` from 0.90 and ``exceeded`` from 1.00.
Available is the limit plus any carried-over budget, applied top-ups and
override amounts of the instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from otel_cost.budgets.envelopes import Envelope, Scope
from otel_cost.budgets.ledger import Adjustments, adjustments
from otel_cost.budgets.periods import (
    instance_key,
    next_period_start,
    period_start,
    period_starts_between,
)
from otel_cost.budgets.spend import recent_sessions, spend_between
from otel_cost.decimals import decimal_text
from otel_cost.store import Store

ZERO = Decimal(0)
WARNING_RATIO = Decimal("0.75")
CRITICAL_RATIO = Decimal("0.90")
EXCEEDED_RATIO = Decimal(1)
# The projection extrapolates the burn rate of at most this window before now.
PROJECTION_WINDOW = timedelta(days=7)


class State(StrEnum):
    """Threshold band of an envelope instance's utilisation."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    EXCEEDED = "exceeded"


@dataclass(frozen=True)
class EnvelopeStatus:
    """The state of one envelope instance at one moment."""

    envelope: Envelope
    instance: str
    spent_usd: Decimal
    carried_usd: Decimal
    adjustments: Adjustments
    period_start: datetime | None
    period_end: datetime | None
    projected_usd: Decimal | None
    unpriced_events: int

    @property
    def available_usd(self) -> Decimal:
        """Limit plus carry-over, top-ups and override amounts."""
        extra = (
            self.carried_usd
            + self.adjustments.topups_usd
            + self.adjustments.overrides_usd
        )
        return self.envelope.limit_usd + extra

    @property
    def remaining_usd(self) -> Decimal:
        """Available minus spent; negative once the envelope is exceeded."""
        return self.available_usd - self.spent_usd

    @property
    def ratio(self) -> Decimal:
        """Spent divided by available (0 when nothing is available or spent)."""
        if self.available_usd > 0:
            return self.spent_usd / self.available_usd
        return EXCEEDED_RATIO if self.spent_usd > 0 else ZERO

    @property
    def state(self) -> State:
        """The threshold band of the utilisation ratio."""
        return state_for(self.ratio)


def state_for(ratio: Decimal) -> State:
    """Return the state of a utilisation ratio."""
    if ratio >= EXCEEDED_RATIO:
        return State.EXCEEDED
    if ratio >= CRITICAL_RATIO:
        return State.CRITICAL
    if ratio >= WARNING_RATIO:
        return State.WARNING
    return State.OK


def project_status(store: Store, envelope: Envelope, now: datetime) -> EnvelopeStatus:
    """Return the status of a project envelope's current period."""
    start = period_start(envelope.period, now)
    end = next_period_start(envelope.period, start)
    spend = spend_between(store, envelope, start, now)
    window_start = max(start, now - PROJECTION_WINDOW)
    recent = spend_between(store, envelope, window_start, now).spent_usd
    return EnvelopeStatus(
        envelope=envelope,
        instance=instance_key(start),
        spent_usd=spend.spent_usd,
        carried_usd=carried_over(store, envelope, start),
        adjustments=adjustments(store, envelope.name, instance_key(start)),
        period_start=start,
        period_end=end,
        projected_usd=project_spend(
            spend.spent_usd, recent, now - window_start, end - now
        ),
        unpriced_events=spend.unpriced_events,
    )


def project_spend(
    spent: Decimal, recent: Decimal, window: timedelta, left: timedelta
) -> Decimal:
    """Return spent plus the recent burn rate continued over the time left."""
    if window <= timedelta(0):
        return spent
    # Multiply before dividing so that whole-day windows stay exact.
    window_seconds = Decimal(window.total_seconds())
    return spent + recent * Decimal(left.total_seconds()) / window_seconds


def carried_over(store: Store, envelope: Envelope, current_start: datetime) -> Decimal:
    """Return the unspent budget carried into the current period (capped rollover)."""
    rollover = envelope.rollover
    if rollover.mode != "capped" or rollover.starts is None or rollover.cap_usd is None:
        return ZERO
    carry = ZERO
    for start in period_starts_between(envelope.period, rollover.starts, current_start):
        end = next_period_start(envelope.period, start)
        spent = spend_between(store, envelope, start, end).spent_usd
        extra = adjustments(store, envelope.name, instance_key(start))
        if extra.lifted:
            carry = ZERO
            continue
        available = envelope.limit_usd + carry + extra.topups_usd + extra.overrides_usd
        carry = min(rollover.cap_usd, max(ZERO, available - spent))
    return carry


def instance_status(store: Store, envelope: Envelope, instance: str) -> EnvelopeStatus:
    """Return the status of one session (session scope) or the task (task scope)."""
    session = instance if envelope.scope is Scope.SESSION else None
    spend = spend_between(store, envelope, None, None, session_id=session)
    return EnvelopeStatus(
        envelope=envelope,
        instance=instance,
        spent_usd=spend.spent_usd,
        carried_usd=ZERO,
        adjustments=adjustments(store, envelope.name, instance),
        period_start=None,
        period_end=None,
        projected_usd=None,
        unpriced_events=spend.unpriced_events,
    )


def envelope_statuses(
    store: Store,
    envelope: Envelope,
    now: datetime | None = None,
    session_id: str | None = None,
    recent_limit: int = 5,
) -> list[EnvelopeStatus]:
    """Return the statuses to show for an envelope.

    A session envelope shows ``session_id`` when given, otherwise the sessions
    active in the last 24 hours (newest first, at most ``recent_limit``).
    """
    now = now or datetime.now(UTC)
    if envelope.scope is Scope.PROJECT:
        return [project_status(store, envelope, now)]
    if envelope.scope is Scope.TASK:
        return [instance_status(store, envelope, envelope.task)]
    sessions = (
        [session_id]
        if session_id
        else recent_sessions(store, envelope, now - timedelta(hours=24), recent_limit)
    )
    return [instance_status(store, envelope, session) for session in sessions]


def status_payload(status: EnvelopeStatus) -> dict[str, Any]:
    """Return the JSON form of one envelope status."""

    def text(value: Decimal | None) -> str | None:
        return None if value is None else decimal_text(value)

    return {
        "envelope": status.envelope.name,
        "scope": status.envelope.scope.value,
        "instance": status.instance,
        "owner": status.envelope.owner_role,
        "limit_usd": text(status.envelope.limit_usd),
        "carried_usd": text(status.carried_usd),
        "topups_usd": text(status.adjustments.topups_usd),
        "overrides_usd": text(status.adjustments.overrides_usd),
        "lifted": status.adjustments.lifted,
        "available_usd": text(status.available_usd),
        "spent_usd": text(status.spent_usd),
        "remaining_usd": text(status.remaining_usd),
        "percent": text((status.ratio * 100).quantize(Decimal("0.01"))),
        "projected_usd": text(status.projected_usd),
        "state": status.state.value,
        "unpriced_events": status.unpriced_events,
        "period_start": status.period_start.isoformat()
        if status.period_start
        else None,
        "period_end": status.period_end.isoformat() if status.period_end else None,
    }


def statuses_document(
    store: Store,
    envelopes: list[Envelope],
    now: datetime,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Return the status of every instance of ``envelopes`` as one JSON document.

    ``envelopes_without_sessions`` names the session envelopes that have no
    session in the last 24 hours (and no ``session_id`` was given).
    """
    found = {
        envelope.name: envelope_statuses(store, envelope, now, session_id)
        for envelope in envelopes
    }
    return {
        "at": now.isoformat(),
        "statuses": [
            status_payload(item) for items in found.values() for item in items
        ],
        "envelopes_without_sessions": [
            name for name, items in found.items() if not items
        ],
    }
