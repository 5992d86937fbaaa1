"""Prometheus text lines for every budget envelope.

Each envelope instance becomes four gauges labelled ``envelope``, ``scope``,
``owner``, ``team``, ``project`` and ``budget_instance`` (the period start, session id
or task id). Session envelopes report the sessions active in the last hour.
The alert rules in ``alerts/prometheus-rules.yaml`` read these series.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from otel_cost.budgets.envelopes import Envelope, Scope, budgets_path, load_envelopes
from otel_cost.budgets.spend import recent_sessions
from otel_cost.budgets.status import EnvelopeStatus, envelope_statuses, instance_status
from otel_cost.store import Store

logger = logging.getLogger(__name__)

# Sessions per session envelope reported as series, newest first; a bound on
# label cardinality.
MAX_SESSION_SERIES = 20
SESSION_WINDOW = timedelta(hours=1)
AUDIT_WINDOW = timedelta(hours=24)

GAUGES = (
    ("otel_cost_budget_spent_usd", "Spend counted against the envelope instance, USD."),
    (
        "otel_cost_budget_limit_usd",
        "Available budget of the instance: limit plus carry-over, top-ups "
        "and overrides, USD.",
    ),
    ("otel_cost_budget_utilisation_ratio", "Spent divided by available budget."),
    (
        "otel_cost_budget_projected_spend_usd",
        "Spend projected to the end of the period from the last 7 days' "
        "burn rate, USD.",
    ),
)
AUDIT_GAUGES = (
    (
        "otel_cost_budget_overrides_24h",
        "Budget overrides recorded in the last 24 hours.",
    ),
    ("otel_cost_budget_denials_24h", "Gate denials recorded in the last 24 hours."),
)


def budget_metric_lines(
    store: Store, envelopes: list[Envelope] | None = None, now: datetime | None = None
) -> list[str]:
    """Return the HELP, TYPE and sample lines of the budget gauges."""
    now = now or datetime.now(UTC)
    if envelopes is None:
        envelopes = load_envelopes(budgets_path())
    statuses = [
        status for envelope in envelopes for status in _statuses(store, envelope, now)
    ]
    lines: list[str] = []
    for name, help_text in GAUGES:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for status in statuses:
            value = _value(name, status)
            if value is not None:
                lines.append(f"{name}{{{_labels(status)}}} {_number(value)}")
    lines.extend(audit_metric_lines(store, envelopes, now))
    return lines


def audit_metric_lines(
    store: Store, envelopes: list[Envelope], now: datetime
) -> list[str]:
    """Return gauges of overrides and denials per envelope over the last 24 hours."""
    rows = store.query(
        "SELECT envelope, countIf(action = 'override'), countIf(action = 'denial') "
        "FROM budget_audit_log WHERE ts >= {since:DateTime64(3, 'UTC')} "
        "GROUP BY envelope",
        {"since": now - AUDIT_WINDOW},
    )
    counts = {row[0]: (row[1], row[2]) for row in rows}
    lines = []
    for index, (name, help_text) in enumerate(AUDIT_GAUGES):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for envelope in envelopes:
            count = counts.get(envelope.name, (0, 0))[index]
            lines.append(f"{name}{{{_envelope_labels(envelope)}}} {count}")
    return lines


def _statuses(store: Store, envelope: Envelope, now: datetime) -> list[EnvelopeStatus]:
    if envelope.scope is not Scope.SESSION:
        return envelope_statuses(store, envelope, now)
    sessions = recent_sessions(
        store, envelope, now - SESSION_WINDOW, MAX_SESSION_SERIES
    )
    return [instance_status(store, envelope, session) for session in sessions]


def _value(name: str, status: EnvelopeStatus) -> Decimal | None:
    if name == "otel_cost_budget_spent_usd":
        return status.spent_usd
    if name == "otel_cost_budget_limit_usd":
        return status.available_usd
    if name == "otel_cost_budget_utilisation_ratio":
        return status.ratio
    return status.projected_usd


def _envelope_labels(envelope: Envelope) -> str:
    labels = {
        "envelope": envelope.name,
        "scope": envelope.scope.value,
        "owner": envelope.owner_role,
        "team": envelope.team_label,
        "project": envelope.match.get("project", ""),
    }
    return ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())


def _labels(status: EnvelopeStatus) -> str:
    instance = _escape(status.instance)
    return f'{_envelope_labels(status.envelope)},budget_instance="{instance}"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: Decimal) -> str:
    # Prometheus samples are floats; twelve decimals keep micro-dollars exact.
    return format(value.quantize(Decimal("0.000000000001")).normalize(), "f")
