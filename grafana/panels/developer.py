"""Developer dashboard: the signed-in user's own burn, sessions and expensive events.

Every query filters on ``user = '${__user.login}'``, so the dashboard shows
only the signed-in user's own spend. That needs the ``user`` attribute of
cost events to equal the Grafana login.
"""

from __future__ import annotations

from typing import Any

from panels.common import (
    FILTERS,
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
            "SELECT uniqExactIf(session_id, session_id != '') AS sessions "
            f"FROM cost_events FINAL WHERE {EVENTS_WHERE}",
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
        "min(ts) AS started, max(ts) AS last_seen, count() AS events, "
        "sum(cost_usd) AS cost_usd, countIf(cost_status = 'unpriced') AS unpriced_events, "
        f"sum({TOTAL_TOKENS}) AS tokens FROM cost_events FINAL "
        f"WHERE {EVENTS_WHERE} AND session_id != '' GROUP BY session_id "
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
        "ORDER BY cost_usd DESC, ts DESC LIMIT 20",
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
