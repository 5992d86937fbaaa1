"""Spend queries over ``cost_events`` for one envelope.

Unpriced events carry no cost: they add nothing to ``spent_usd`` and are
counted in ``unpriced_events`` instead, so a caller can say the spend is a
lower bound rather than show a silent $0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from otel_cost.budgets.envelopes import Envelope, Scope
from otel_cost.store import Store

ZERO = Decimal(0)
TIME = "DateTime64(3, 'UTC')"

# A model filter matches the model as the agent named it or as pricing resolved it.
_MATCH_SQL = {
    "project": "project = {match_project:String}",
    "harness": "harness = {match_harness:String}",
    "user": "user = {match_user:String}",
    "team": "team = {match_team:String}",
    "model": "(model = {match_model:String} OR resolved_model = {match_model:String})",
}


@dataclass(frozen=True)
class Spend:
    """Cost and counts of the events that fall into one envelope instance."""

    spent_usd: Decimal
    events: int
    unpriced_events: int


def match_conditions(envelope: Envelope) -> tuple[list[str], dict[str, Any]]:
    """Return the SQL conditions and parameters of the envelope's filters."""
    conditions = [_MATCH_SQL[key] for key in envelope.match]
    parameters: dict[str, Any] = {
        f"match_{key}": value for key, value in envelope.match.items()
    }
    if envelope.scope is Scope.TASK:
        conditions.append(
            "(session_id = {task:String} OR parent_session_id = {task:String})"
        )
        parameters["task"] = envelope.task
    return conditions, parameters


def spend_between(
    store: Store,
    envelope: Envelope,
    start: datetime | None,
    end: datetime | None,
    session_id: str | None = None,
) -> Spend:
    """Return the spend of the envelope's events in ``[start, end)``.

    ``session_id`` narrows the events to one session.
    """
    conditions, parameters = match_conditions(envelope)
    if start is not None:
        conditions.append(f"ts >= {{start:{TIME}}}")
        parameters["start"] = start
    if end is not None:
        conditions.append(f"ts < {{end:{TIME}}}")
        parameters["end"] = end
    if session_id is not None:
        conditions.append("session_id = {session:String}")
        parameters["session"] = session_id
    where = " AND ".join(conditions) or "1"
    # NOTE: FINAL merges revisions at query time, so a month of a large store is
    # scanned in full. The 15-minute rollup has no session column, so it can only
    # serve project envelopes; that path is not written yet.
    rows = store.query(
        "SELECT sum(cost_usd), count(), countIf(cost_usd IS NULL) "
        f"FROM cost_events FINAL WHERE {where}",
        parameters,
    )
    total, events, unpriced = rows[0]
    return Spend(
        spent_usd=total if total is not None else ZERO,
        events=events,
        unpriced_events=unpriced,
    )


def spend_by_period(
    store: Store, envelope: Envelope, starts: list[datetime], end: datetime
) -> list[Decimal]:
    """Return the spend of each period ``[starts[i], starts[i+1])``.

    The last period ends at ``end``.
    """
    bounds = [*starts, end]
    return [
        spend_between(store, envelope, bounds[index], bounds[index + 1]).spent_usd
        for index in range(len(starts))
    ]


def recent_sessions(
    store: Store, envelope: Envelope, since: datetime, limit: int
) -> list[str]:
    """Return the matching sessions with events since ``since``, newest first."""
    conditions, parameters = match_conditions(envelope)
    conditions.append(f"ts >= {{since:{TIME}}}")
    conditions.append("session_id != ''")
    parameters["since"] = since
    rows = store.query(
        "SELECT session_id FROM cost_events FINAL WHERE "
        + " AND ".join(conditions)
        + f" GROUP BY session_id ORDER BY max(ts) DESC LIMIT {int(limit)}",
        parameters,
    )
    return [row[0] for row in rows]
