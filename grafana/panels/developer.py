"""Developer dashboard: the signed-in user's own burn, sessions and expensive events.

Every query filters on ``user = '${__user.login}'``, so the dashboard shows
only the signed-in user's own spend. That needs the ``user`` attribute of
cost events to equal the Grafana login.
"""

from __future__ import annotations

from typing import Any

from panels.common import (
    FILTERS,
    FINAL_BY_PARTITION,
    FORMAT_TIME_SERIES,
    TOKEN_COLUMNS,
    TOTAL_TOKENS,
    attribution_variables,
    build_dashboard,
    panel,
)

UID = "otel-cost-developer"
ME = "user = '${__user.login}'"
WHERE = f"$__timeFilter(bucket) AND {ME} AND {FILTERS}"
EVENTS_WHERE = f"$__timeFilter(ts) AND {ME} AND {FILTERS}"
# cost_sessions key without the bucket. A revision that replaced an event
# under other dimensions leaves a group of this key that nets to zero events.
SESSION_GROUP = (
    "session_id, harness, provider, resolved_model, model, project, team, user, "
    "cost_status"
)


def _stats() -> list[dict[str, Any]]:
    return [
        panel(
            "stat",
            "My spend",
            "Priced cost of my events in the time range. Unpriced events add no cost.",
            f"SELECT sum(cost_usd) AS cost_usd FROM cost_rollup_15m WHERE {WHERE}",
            (6, 4),
            decimals=2,
        ),
        panel(
            "stat",
            "Events",
            "LLM calls, tool calls and fees recorded for me in the time range.",
            f"SELECT sum(events) AS events FROM cost_rollup_15m WHERE {WHERE}",
            (6, 4),
            unit="short",
        ),
        panel(
            "stat",
            "Unpriced events",
            "Events whose model has no rate card: tokens known, cost unknown.",
            "SELECT sumIf(events, cost_status = 'unpriced') AS unpriced_events "
            f"FROM cost_rollup_15m WHERE {WHERE}",
            (6, 4),
            unit="short",
        ),
        panel(
            "stat",
            "Sessions",
            "Distinct agent sessions with at least one event in the time range.",
            "SELECT count() AS sessions FROM (SELECT session_id FROM cost_sessions "
            f"WHERE {WHERE} AND session_id != '' GROUP BY session_id "
            "HAVING sum(events) != 0)",
            (6, 4),
            unit="short",
        ),
    ]


def _burn() -> dict[str, Any]:
    return panel(
        "timeseries",
        "My burn by model",
        "Priced cost per interval, one series per resolved model.",
        "SELECT $__timeInterval(bucket) AS time, resolved_model, "
        f"sum(cost_usd) AS cost_usd FROM cost_rollup_15m WHERE {WHERE} "
        "GROUP BY time, resolved_model ORDER BY time, resolved_model",
        (16, 8),
        fmt=FORMAT_TIME_SERIES,
    )


def _tokens() -> dict[str, Any]:
    sums = ", ".join(
        f"sum({column}) AS {column.removesuffix('_tokens')}" for column in TOKEN_COLUMNS
    )
    return panel(
        "bargauge",
        "My tokens by category",
        "Token counts per exclusive category: uncached input, cache reads and "
        "writes, output, reasoning, image and audio.",
        f"SELECT {sums} FROM cost_rollup_15m WHERE {WHERE}",
        (8, 8),
        unit="short",
        options={"orientation": "horizontal", "displayMode": "basic"},
    )


def _sessions() -> dict[str, Any]:
    return panel(
        "table",
        "My sessions",
        "Sessions in the time range, most expensive first (top 50).",
        "SELECT session_id, any(harness) AS session_harness, "
        "any(project) AS session_project, "
        "min(group_first) AS started, max(group_last) AS last_seen, "
        "sum(group_events) AS events, "
        # NULL, as a sum over the raw events gives, when no event has a price.
        "if(events = sum(group_unpriced), NULL, sum(group_cost)) AS cost_usd, "
        "sum(group_unpriced) AS unpriced_events, sum(group_tokens) AS tokens "
        "FROM (SELECT session_id, harness, project, min(first_ts) AS group_first, "
        "max(last_ts) AS group_last, sum(events) AS group_events, "
        "sum(cost_usd) AS group_cost, "
        "sumIf(events, cost_status = 'unpriced') AS group_unpriced, "
        f"sum({TOTAL_TOKENS}) AS group_tokens FROM cost_sessions "
        f"WHERE {WHERE} AND session_id != '' GROUP BY {SESSION_GROUP} "
        "HAVING group_events != 0) GROUP BY session_id "
        "ORDER BY cost_usd DESC, last_seen DESC LIMIT 50",
        (24, 9),
    )


def _operations() -> dict[str, Any]:
    return panel(
        "table",
        "My most expensive events",
        "The 20 priced events with the highest cost in the time range.",
        "SELECT ts, session_id, resolved_model, operation, tool_name, "
        f"{TOTAL_TOKENS} AS tokens, cost_usd FROM cost_events FINAL "
        f"WHERE {EVENTS_WHERE} AND cost_usd IS NOT NULL "
        f"ORDER BY cost_usd DESC, ts DESC LIMIT 20 {FINAL_BY_PARTITION}",
        (24, 9),
    )


def dashboard() -> dict[str, Any]:
    """Return the developer dashboard."""
    panels = [*_stats(), _burn(), _tokens(), _sessions(), _operations()]
    return build_dashboard(
        UID,
        "otel-cost / Developer",
        "My own AI agent spend: burn, sessions, tokens and the most expensive events.",
        panels,
        attribution_variables(),
        time_from="now-24h",
    )
