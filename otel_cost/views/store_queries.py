"""SQL behind the views, run directly against the store.

Every query reads ``cost_events FINAL`` so that a revised event counts once
even before ClickHouse has merged its versions away.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from otel_cost.errors import ConfigError
from otel_cost.events import TokenCategory
from otel_cost.store import Store
from otel_cost.views.model import (
    GROUPINGS,
    ZERO,
    MixRow,
    Operation,
    SessionDetail,
    SessionRow,
    Total,
    UnpricedUsage,
)

TOKEN_COLUMNS = [f"{category.value}_tokens" for category in TokenCategory]
TOTAL_TOKENS = " + ".join(TOKEN_COLUMNS)
COST_SUM = "coalesce(sum(cost_usd), toDecimal128(0, 12))"
UNPRICED_COUNT = "countIf(cost_status = 'unpriced')"

_WINDOW = "ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}"
_PROJECT = "({project:String} = '' OR project = {project:String})"


def _params(since: datetime, until: datetime, project: str | None) -> dict[str, Any]:
    return {"since": since, "until": until, "project": project or ""}


def _utc(instant: datetime) -> datetime:
    # clickhouse-connect returns DateTime64(3, 'UTC') values as naive datetimes.
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant


def _decimal(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value)


def total(store: Store, since: datetime, until: datetime, project: str | None) -> Total:
    """Return the spend between ``since`` and ``until``."""
    rows = store.query(
        f"SELECT {COST_SUM}, count(), {UNPRICED_COUNT} FROM cost_events FINAL "
        f"WHERE {_WINDOW} AND {_PROJECT}",
        _params(since, until, project),
    )
    cost, events, unpriced = rows[0]
    return Total(
        cost_usd=_decimal(cost), events=int(events), unpriced_events=int(unpriced)
    )


def mix(
    store: Store, since: datetime, until: datetime, project: str | None, grouping: str
) -> list[MixRow]:
    """Return the spend per value of ``grouping``, most expensive first."""
    if grouping not in GROUPINGS:
        raise ConfigError(f"unknown grouping {grouping!r}; expected one of {GROUPINGS}")
    rows = store.query(
        f"SELECT {grouping} AS key, {COST_SUM}, count(), {UNPRICED_COUNT} "
        f"FROM cost_events FINAL WHERE {_WINDOW} AND {_PROJECT} "
        "GROUP BY key ORDER BY 2 DESC, key",
        _params(since, until, project),
    )
    return [
        MixRow(
            key=str(key),
            cost_usd=_decimal(cost),
            events=int(events),
            unpriced_events=int(unpriced),
        )
        for key, cost, events, unpriced in rows
    ]


def top_operations(
    store: Store,
    since: datetime,
    until: datetime,
    project: str | None,
    limit: int,
    session_id: str = "",
) -> list[Operation]:
    """Return the ``limit`` most expensive priced events, optionally of one session."""
    params = _params(since, until, project) | {"session": session_id, "limit": limit}
    rows = store.query(
        "SELECT ts, session_id, project, resolved_model, operation, tool_name, "
        f"{TOTAL_TOKENS}, cost_usd FROM cost_events FINAL "
        f"WHERE {_WINDOW} AND {_PROJECT} AND cost_usd IS NOT NULL "
        "AND ({session:String} = '' OR session_id = {session:String}) "
        "ORDER BY cost_usd DESC, ts DESC LIMIT {limit:UInt32}",
        params,
    )
    return [
        Operation(
            ts=_utc(ts),
            session_id=session,
            project=proj,
            model=model,
            operation=operation,
            tool_name=tool,
            total_tokens=int(tokens),
            cost_usd=_decimal(cost),
        )
        for ts, session, proj, model, operation, tool, tokens, cost in rows
    ]


def sessions(
    store: Store, since: datetime, until: datetime, project: str | None, limit: int
) -> list[SessionRow]:
    """Return the sessions active in the window, most recently active first."""
    params = _params(since, until, project) | {"limit": limit}
    rows = store.query(
        "SELECT session_id, any(harness), any(project), min(ts), max(ts), count(), "
        f"{COST_SUM}, {UNPRICED_COUNT} FROM cost_events FINAL "
        f"WHERE {_WINDOW} AND {_PROJECT} AND session_id != '' "
        "GROUP BY session_id ORDER BY max(ts) DESC, session_id LIMIT {limit:UInt32}",
        params,
    )
    return [_session_row(row) for row in rows]


def _session_row(row: tuple[Any, ...]) -> SessionRow:
    session_id, harness, project, started, last_seen, events, cost, unpriced = row
    return SessionRow(
        session_id=session_id,
        harness=harness,
        project=project,
        started=_utc(started),
        last_seen=_utc(last_seen),
        events=int(events),
        cost_usd=_decimal(cost),
        unpriced_events=int(unpriced),
    )


def session_detail(store: Store, session_id: str, top_n: int) -> SessionDetail | None:
    """Return one session's totals, tokens by category and most expensive events."""
    token_sums = ", ".join(f"sum({column})" for column in TOKEN_COLUMNS)
    rows = store.query(
        "SELECT session_id, any(harness), any(project), min(ts), max(ts), count(), "
        f"{COST_SUM}, {UNPRICED_COUNT}, {token_sums} FROM cost_events FINAL "
        "WHERE session_id = {session:String} GROUP BY session_id",
        {"session": session_id},
    )
    if not rows:
        return None
    row = rows[0]
    session = _session_row(row[:8])
    tokens = {
        column.removesuffix("_tokens"): int(count)
        for column, count in zip(TOKEN_COLUMNS, row[8:], strict=True)
    }
    operations = top_operations(
        store, session.started, _after(session.last_seen), None, top_n, session_id
    )
    return SessionDetail(session=session, tokens=tokens, operations=operations)


def _after(instant: datetime) -> datetime:
    # The window's upper bound is exclusive, so include the last event itself.
    return instant + timedelta(milliseconds=1)


def unpriced(
    store: Store, since: datetime, until: datetime, project: str | None
) -> UnpricedUsage:
    """Return the events, tokens and models in the window that have no price."""
    rows = store.query(
        f"SELECT count(), sum({TOTAL_TOKENS}), groupUniqArray(20)(model) "
        f"FROM cost_events FINAL WHERE {_WINDOW} AND {_PROJECT} "
        "AND cost_status = 'unpriced'",
        _params(since, until, project),
    )
    events, tokens, models = rows[0]
    return UnpricedUsage(
        events=int(events), tokens=int(tokens or 0), models=sorted(models or [])
    )


def projects(store: Store, since: datetime, until: datetime) -> list[str]:
    """Return the projects with events in the window, in name order."""
    rows = store.query(
        f"SELECT DISTINCT project FROM cost_events FINAL WHERE {_WINDOW} "
        "ORDER BY project",
        _params(since, until, None),
    )
    return [str(row[0]) for row in rows]
