"""Query benchmark: report and dashboard latency over 1M and 10M stored events.

Opens a fresh embedded store in a temporary directory (this process's only
chDB path), fills it with synthetic events generated inside ClickHouse by
``INSERT ... SELECT FROM numbers()`` into ``cost_events``, so that the
materialized views fill ``cost_rollup_15m`` and ``cost_sessions`` as they do
for real writes. At each
size it times:

- ``build_report`` for every grouping, over the last 30 days and over all time;
- every Grafana panel query, expanded as the ClickHouse data source plugin
  expands it (the expansion in ``tests/test_grafana_queries.py``), over the
  last 30 days.

Prints one JSON line per query and size, then a table of p50 and p95 in ms.
Usage: python bench/query_bench.py [--sizes 1000000,10000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import test_grafana_queries as grafana_sql  # noqa: E402

from otel_cost.reports.report import GROUPINGS, build_report  # noqa: E402
from otel_cost.store import Store, open_store  # noqa: E402

DASHBOARDS = ROOT / "grafana" / "dashboards"
# Rows per INSERT ... SELECT, to bound the memory of one insert.
CHUNK = 1_000_000
EVENTS_PER_SESSION = 40
HISTORY_DAYS = 365
# Template variables the dashboards need, and the signed-in user that the
# developer dashboard filters on (one of the synthetic users).
VARIABLES = {"monthly_budget_usd": "5000", "storage_usd_per_gb_month": "0.10"}
LOGIN = "user-1"

# One event per number n. Sessions are runs of EVENTS_PER_SESSION numbers that
# share a start time, harness, project, user and model. Start times lean towards
# recent days because they use the square of a uniform draw. Projects (cube) and
# users (square) lean towards the first few names in the same way.
GENERATE = f"""
INSERT INTO cost_events
    (event_id, version, ts, harness, source, session_id, provider, model_requested,
     model, resolved_model, project, user, team, operation, outcome, latency_ms,
     input_tokens, cache_read_tokens, cache_write_5m_tokens, output_tokens,
     reasoning_tokens, tool_call_count, pricing_version, cost_status, cost_usd,
     ingested_at)
SELECT
    concat('bench-', toString(n)) AS event_id,
    1 AS version,
    toDateTime64(%(end)s, 3, 'UTC')
        - toIntervalSecond(toUInt32(%(days)s * 86400 * pow(u_start, 2)))
        + toIntervalSecond((n %% {EVENTS_PER_SESSION}) * 45) AS ts,
    ['claude-code', 'claude-code', 'claude-code', 'codex', 'codex', 'gemini-cli',
     'opencode', 'cline', 'sdk', 'sdk'][1 + s_hash %% 10] AS harness,
    if(harness = 'sdk', 'sdk', ['import', 'hook', 'otlp'][1 + s_hash %% 3]) AS source,
    concat('session-', toString(session)) AS session_id,
    multiIf(model LIKE 'claude%%', 'anthropic', model LIKE 'gemini%%', 'google',
            'openai') AS provider,
    model AS model_requested,
    multiIf(
        harness = 'codex', ['gpt-5.5', 'gpt-5', 'gpt-5-mini'][1 + s_hash %% 3],
        harness = 'gemini-cli', ['gemini-2.5-pro', 'gemini-2.5-flash'][1 + s_hash %% 2],
        s_hash %% 50 = 0, concat('mystery-model-', toString(s_hash %% 7)),
        ['claude-sonnet-4-5', 'claude-sonnet-4-5', 'claude-opus-4-8',
         'claude-haiku-4-5'][1 + s_hash %% 4]) AS model,
    if(model LIKE 'mystery%%', '', model) AS resolved_model,
    concat('project-', toString(toUInt32(60 * pow(u_project, 3)))) AS project,
    concat('user-', toString(toUInt32(80 * pow(u_user, 2)))) AS user,
    concat('team-', toString(cityHash64(user) %% 9)) AS team,
    'chat' AS operation,
    if(e_hash %% 100 = 0, 'error', 'success') AS outcome,
    toUInt32(800 + e_hash %% 30000) AS latency_ms,
    toUInt64(200 + e_hash %% 8000) AS input_tokens,
    toUInt64(if(n %% {EVENTS_PER_SESSION} = 0, 0, intDiv(e_hash, 256) %% 120000))
        AS cache_read_tokens,
    toUInt64(if(e_hash %% 5 = 0, intDiv(e_hash, 65536) %% 20000, 0))
        AS cache_write_5m_tokens,
    toUInt64(20 + intDiv(e_hash, 16777216) %% 3000) AS output_tokens,
    toUInt64(if(harness = 'codex', intDiv(e_hash, 4294967296) %% 2000, 0))
        AS reasoning_tokens,
    toUInt32(intDiv(e_hash, 1099511627776) %% 4) AS tool_call_count,
    'litellm-2026-07-24' AS pricing_version,
    multiIf(resolved_model = '', 'unpriced', e_hash %% 33 = 0, 'estimated',
            'priced') AS cost_status,
    if(cost_status = 'unpriced', NULL,
       toDecimal128(input_tokens, 12) * toDecimal128('0.000003', 12)
       + toDecimal128(cache_read_tokens, 12) * toDecimal128('0.0000003', 12)
       + toDecimal128(cache_write_5m_tokens, 12) * toDecimal128('0.00000375', 12)
       + toDecimal128(output_tokens + reasoning_tokens, 12)
         * toDecimal128('0.000015', 12)) AS cost_usd,
    ts + toIntervalMillisecond(latency_ms) AS ingested_at
FROM
(
    SELECT
        number AS n,
        intDiv(number, {EVENTS_PER_SESSION}) AS session,
        cityHash64(session) AS s_hash,
        cityHash64(number, 7) AS e_hash,
        (cityHash64(session, 1) %% 1000000) / 1000000 AS u_start,
        (cityHash64(session, 2) %% 1000000) / 1000000 AS u_project,
        (cityHash64(session, 3) %% 1000000) / 1000000 AS u_user
    FROM numbers(%(first)s, %(count)s)
)
"""


def fill(store: Store, first: int, count: int, end: datetime) -> float:
    """Insert synthetic events ``first`` to ``first + count - 1`` and return the seconds."""
    started = time.perf_counter()
    for offset in range(first, first + count, CHUNK):
        size = min(CHUNK, first + count - offset)
        store.command(
            GENERATE,
            {
                "first": offset,
                "count": size,
                "end": end.replace(tzinfo=None),
                "days": HISTORY_DAYS,
            },
        )
    return time.perf_counter() - started


def time_runs(action: Callable[[], int], runs: int) -> dict[str, Any]:
    """Run ``action`` once to warm up, then ``runs`` times, and return p50 and p95 in ms."""
    rows = action()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p95_index = min(len(timings) - 1, round(0.95 * (len(timings) - 1)))
    return {
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[p95_index], 1),
        "rows": rows,
    }


def report_queries(store: Store, end: datetime) -> dict[str, Callable[[], int]]:
    """Return one callable per report grouping and range."""
    since = end - timedelta(days=30)
    queries: dict[str, Callable[[], int]] = {}
    for group_by in GROUPINGS:
        for label, start in (("30d", since), ("all", None)):

            def action(group_by: str = group_by, start: datetime | None = start) -> int:
                report = build_report(store, group_by, "UTC", start, end)
                return len(report.rows)

            queries[f"report {group_by} {label}"] = action
    return queries


def panel_queries(store: Store, end: datetime) -> dict[str, Callable[[], int]]:
    """Return one callable per Grafana panel query, expanded for the last 30 days."""
    request = grafana_sql.Request(
        start=end - timedelta(days=30),
        end=end,
        interval_s=3600,
        variables=VARIABLES,
        login=LOGIN,
    )
    queries: dict[str, Callable[[], int]] = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        short = dashboard["uid"].removeprefix("otel-cost-")
        for item in dashboard["panels"]:
            for target in item.get("targets", []):
                sql = grafana_sql.expand(target["rawSql"], request)

                def action(sql: str = sql) -> int:
                    return len(store.query(sql))

                queries[f"panel {short}: {item['title']}"] = action
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="otel-cost-query-bench-") as directory:
        store = open_store(f"chdb://{Path(directory) / 'store'}", "bench")
        stored = 0
        for size in sizes:
            seconds = fill(store, stored, size - stored, end)
            stored = size
            print(
                json.dumps(
                    {
                        "benchmark": "query-fill",
                        "events": size,
                        "seconds": round(seconds, 1),
                        "rollup_rows": store.query(
                            "SELECT count() FROM cost_rollup_15m"
                        )[0][0],
                        "session_rows": store.query(
                            "SELECT count() FROM cost_sessions"
                        )[0][0],
                    }
                ),
                flush=True,
            )
            queries = report_queries(store, end) | panel_queries(store, end)
            for name, action in queries.items():
                figures = {"benchmark": "query", "events": size, "query": name}
                figures |= time_runs(action, args.runs)
                results.append(figures)
                print(json.dumps(figures), flush=True)
        store.close()
    print_table(results, sizes, args.runs)


def print_table(results: list[dict[str, Any]], sizes: list[int], runs: int) -> None:
    """Print p50 / p95 in ms per query, one column pair per size."""
    print(f"\n{platform.processor() or platform.machine()}, {runs} runs per query")
    header = "| query | " + " | ".join(f"{size:,} p50 | {size:,} p95" for size in sizes)
    print(header + " |")
    print("| --- |" + " ---: | ---: |" * len(sizes))
    by_query: dict[str, dict[int, dict[str, Any]]] = {}
    for figures in results:
        by_query.setdefault(figures["query"], {})[figures["events"]] = figures
    for name, per_size in by_query.items():
        cells = []
        for size in sizes:
            figures = per_size.get(size, {})
            cells += [str(figures.get("p50_ms", "")), str(figures.get("p95_ms", ""))]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
