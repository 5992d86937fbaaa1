"""Every dashboard query, expanded as the ClickHouse plugin does, run on a fixture dataset.

The expansion follows grafana-clickhouse-datasource 4.x. The frontend first
turns ``$__conditionalAll(cond, $var)`` into ``cond``, or into ``1=1`` when
the variable is All, and interpolates template variables. The backend then
expands the time macros as ``pkg/macros/macros.go`` does:

- ``$__timeFilter(c)`` -> ``c >= toDateTime(<from s>) AND c <= toDateTime(<to s>)``
- ``$__fromTime`` / ``$__toTime`` -> ``toDateTime(<unix s>)``
- ``$__timeInterval(c)`` -> ``toStartOfInterval(toDateTime(c), INTERVAL <s> second)``
- ``$__interval_s`` -> the interval in seconds, at least 1
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from otel_cost.events import CostEvent, CostStatus, TokenCategory, Usage
from otel_cost.store import Store
from otel_cost.store.writer import write_events

DASHBOARDS = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"
ALL = "$__all"
RANGE_FROM = datetime(2026, 11, 1, tzinfo=UTC)
RANGE_TO = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
LOGIN = "dev"


# --- Expansion, as the plugin does it -------------------------------------------------


@dataclass
class Request:
    """What Grafana sends with a query: range, interval, variables and signed-in user."""

    start: datetime = RANGE_FROM
    end: datetime = RANGE_TO
    interval_s: int = 3600
    variables: dict[str, Any] = field(default_factory=dict)
    login: str = LOGIN


def _call_arguments(sql: str, open_index: int) -> tuple[list[str], int]:
    """Split the arguments of a call whose "(" is at ``open_index``; return them and the end."""
    depth, start, arguments = 0, open_index + 1, []
    for index in range(open_index, len(sql)):
        char = sql[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                arguments.append(sql[start:index].strip())
                return arguments, index + 1
        elif char == "," and depth == 1:
            arguments.append(sql[start:index].strip())
            start = index + 1
    raise AssertionError(f"unbalanced parentheses in {sql!r}")


def _replace_calls(sql: str, name: str, expand: Any) -> str:
    pattern = re.compile(re.escape(name) + r"\(")
    while match := pattern.search(sql):
        arguments, end = _call_arguments(sql, match.end() - 1)
        sql = sql[: match.start()] + expand(arguments) + sql[end:]
    return sql


def _conditional_all(sql: str, request: Request) -> str:
    def expand(arguments: list[str]) -> str:
        condition, variable = ",".join(arguments[:-1]), arguments[-1].lstrip("$")
        value = request.variables.get(variable, ALL)
        return "1=1" if value == ALL or ALL in value else condition

    return _replace_calls(sql, "$__conditionalAll", expand)


def _format(value: Any, fmt: str | None) -> str:
    values = value if isinstance(value, list) else [value]
    if fmt == "singlequote":
        return ",".join("'" + str(v).replace("'", "\\'") + "'" for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + str(v).replace("'", "''") + "'" for v in values)
    assert fmt is None, f"format {fmt} not expanded by this test"
    return ",".join(str(v) for v in values)


def _variables(sql: str, request: Request) -> str:
    sql = sql.replace("${__user.login}", request.login)

    def braced(match: re.Match[str]) -> str:
        return _format(request.variables[match.group(1)], match.group(2))

    sql = re.sub(r"\$\{(\w+)(?::(\w+))?\}", braced, sql)
    return re.sub(
        r"\$(?!__)(\w+)", lambda m: _format(request.variables[m.group(1)], None), sql
    )


def _time_macros(sql: str, request: Request) -> str:
    start, end = int(request.start.timestamp()), int(request.end.timestamp())
    interval = max(request.interval_s, 1)
    sql = _replace_calls(
        sql,
        "$__timeFilter",
        lambda a: f"{a[0]} >= toDateTime({start}) AND {a[0]} <= toDateTime({end})",
    )
    sql = _replace_calls(
        sql,
        "$__timeInterval",
        lambda a: f"toStartOfInterval(toDateTime({a[0]}), INTERVAL {interval} second)",
    )
    sql = sql.replace("$__fromTime", f"toDateTime({start})")
    sql = sql.replace("$__toTime", f"toDateTime({end})")
    return sql.replace("$__interval_s", str(interval))


def expand(sql: str, request: Request) -> str:
    """Return ``sql`` as the plugin would send it to ClickHouse."""
    expanded = _time_macros(
        _variables(_conditional_all(sql, request), request), request
    )
    assert "$" not in expanded, f"unexpanded macro or variable in {expanded}"
    return expanded


def test_expand_matches_plugin_output() -> None:
    request = Request(variables={"team": ["a'b", "c"], "budget": "12.5"})
    sql = (
        "SELECT $__timeInterval(ts) FROM t WHERE $__timeFilter(ts) "
        "AND $__conditionalAll(team IN (${team:singlequote}), $team) "
        "AND $__conditionalAll(x IN (${team:singlequote}), $other) "
        "AND b = ${budget:sqlstring} AND user = '${__user.login}' AND $__toTime > 0"
    )
    assert expand(sql, request) == (
        "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 3600 second) FROM t "
        "WHERE ts >= toDateTime(1793491200) AND ts <= toDateTime(1795003200) "
        "AND team IN ('a\\'b','c') AND 1=1 AND b = '12.5' AND user = 'dev' "
        "AND toDateTime(1795003200) > 0"
    )


# --- Fixture dataset ------------------------------------------------------------------


def cost_event(
    event_id: str,
    ts: datetime,
    *,
    user: str,
    project: str,
    team: str,
    harness: str,
    provider: str,
    model: str,
    session: str,
    cost: str | None,
    source: str = "hook",
    **tokens: int,
) -> CostEvent:
    """An event priced by hand; ``cost`` None makes it unpriced with no resolved model."""
    return CostEvent(
        event_id=event_id,
        ts=ts,
        harness=harness,
        source=source,
        session_id=session,
        provider=provider,
        model=model,
        resolved_model=model if cost else "",
        project=project,
        team=team,
        user=user,
        usage=Usage(tokens={TokenCategory(k): v for k, v in tokens.items()}),
        cost_status=CostStatus.PRICED if cost else CostStatus.UNPRICED,
        cost_usd=Decimal(cost) if cost else None,
    )


def batch_events() -> list[CostEvent]:
    """Project "batch": 1 USD and 2 USD on alternate days from 15 Oct, 10 USD on 17 Nov."""
    events = []
    first = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
    for index in range(34):
        day = first + timedelta(days=index)
        if index == 33:
            cost = "10.00"
        elif index % 2 == 0:
            cost = "1.00"
        else:
            cost = "2.00"
        events.append(
            cost_event(
                f"batch-{index}", day, user=f"bot{index % 4}", project="batch",
                team="backend",
                harness="sdk", provider="anthropic", model="claude-haiku-4-5",
                session=f"batch-{index}", cost=cost, source="sdk", input=100,
            )
        )  # fmt: skip
    return events


def fixture_events() -> list[CostEvent]:
    """The dataset every query runs on; totals are worked out in the tests."""
    nov17 = datetime(2026, 11, 17, tzinfo=UTC)
    return [
        cost_event("g1", nov17 + timedelta(hours=10, minutes=5), user="dev",
                   project="web", team="frontend", harness="claude-code",
                   provider="anthropic", model="claude-sonnet-4-5", session="s1",
                   cost="2.00", input=1000, output=500),
        cost_event("g2", nov17 + timedelta(hours=10, minutes=20), user="dev",
                   project="web", team="frontend", harness="claude-code",
                   provider="anthropic", model="claude-sonnet-4-5", session="s1",
                   cost="1.00", input=400, cache_read=600),
        cost_event("g3", nov17 + timedelta(hours=11), user="ana", project="api",
                   team="backend", harness="codex", provider="openai", model="gpt-5",
                   session="s2", cost="4.00", input=2000, output=1000, reasoning=500),
        cost_event("g4", nov17 + timedelta(hours=11, minutes=30), user="dev",
                   project="api", team="backend", harness="codex", provider="openai",
                   model="mystery-model", session="s3", cost=None, input=3000),
        cost_event("g5", datetime(2026, 10, 15, 12, tzinfo=UTC), user="ana",
                   project="web", team="frontend", harness="claude-code",
                   provider="anthropic", model="claude-sonnet-4-5", session="s4",
                   cost="5.00", source="import", input=100),
        *batch_events(),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard by uid."""
    loaded = [
        json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))
    ]
    return {dashboard["uid"]: dashboard for dashboard in loaded}


@pytest.fixture
def loaded(store: Store) -> Iterator[Store]:
    """The store with the fixture events, one import file and one rate card."""
    write_events(store, fixture_events())
    now = datetime.now(UTC)
    store.insert(
        "import_progress",
        [["claude-code", "/h/a.jsonl", 10, 0, "f", 10, "", 12, 1, now]],
        ["importer", "path", "size", "mtime_ns", "fingerprint", "offset", "state",
         "events", "bad_lines", "updated_at"],
    )  # fmt: skip
    store.insert(
        "pricing_versions",
        [
            [
                "litellm-2026-07-24",
                datetime(2026, 7, 24, tzinfo=UTC),
                "builtin",
                900,
                2,
                now,
            ]
        ],
        ["version", "effective_from", "source", "models", "findings", "recorded_at"],
    )
    yield store


def panel_sql(dashboards: dict[str, dict[str, Any]], uid: str, title: str) -> str:
    """Return the SQL of the panel titled ``title`` on dashboard ``uid``."""
    for item in dashboards[uid]["panels"]:
        if item["title"] == title:
            return str(item["targets"][0]["rawSql"])
    raise AssertionError(f"no panel {title!r} on {uid}")


def run(
    store: Store, sql: str, request: Request | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Expand and run ``sql``; return the column names and rows."""
    expanded = expand(sql, request or Request())
    rows = store.query(expanded)
    # DESCRIBE names the columns even when the result has no rows.
    columns = [row[0] for row in store.query(f"DESCRIBE TABLE ({expanded})")]
    return columns, [tuple(row) for row in rows]


def single(store: Store, sql: str, request: Request | None = None) -> Any:
    """Run a one-row, one-column query and return its value."""
    _, rows = run(store, sql, request)
    assert len(rows) == 1
    return rows[0][0]


# --- Every query runs and has the expected columns ------------------------------------

EXPECTED_COLUMNS = {
    ("otel-cost-developer", "My spend"): ["cost_usd"],
    ("otel-cost-developer", "Events"): ["events"],
    ("otel-cost-developer", "Unpriced events"): ["unpriced_events"],
    ("otel-cost-developer", "Sessions"): ["sessions"],
    ("otel-cost-developer", "My burn by model"): ["time", "resolved_model", "cost_usd"],
    ("otel-cost-developer", "My tokens by category"): [
        "input", "cache_read", "cache_write_5m", "cache_write_1h", "output",
        "reasoning", "image_input", "audio_input", "image_output", "audio_output",
    ],
    ("otel-cost-developer", "My sessions"): [
        "session_id", "session_harness", "session_project", "started", "last_seen", "events",
        "cost_usd", "unpriced_events", "tokens",
    ],
    ("otel-cost-developer", "My most expensive events"): [
        "ts", "session_id", "resolved_model", "operation", "tool_name", "tokens",
        "cost_usd",
    ],
    ("otel-cost-team", "Month to date"): ["cost_usd"],
    ("otel-cost-team", "Budget used this month"): ["budget_used_pct"],
    ("otel-cost-team", "Projected month end"): ["projected_usd"],
    ("otel-cost-team", "Burn-down against budget"): [
        "time", "remaining_usd", "ideal_remaining_usd",
    ],
    ("otel-cost-team", "Spend by project"): ["project", "cost_usd"],
    ("otel-cost-team", "Spend by team"): ["team_label", "cost_usd"],
    ("otel-cost-team", "Month over month"): ["month_label", "cost_usd", "change_pct"],
    ("otel-cost-team", "Forecast vs actual"): ["time", "actual_usd", "forecast_usd"],
    ("otel-cost-team", "Spend anomalies"): [
        "time", "project", "cost_usd", "baseline_usd", "sigma",
    ],
    ("otel-cost-finops", "Provider mix"): ["provider", "cost_usd"],
    ("otel-cost-finops", "Spend by provider"): ["time", "provider", "cost_usd"],
    ("otel-cost-finops", "Model mix"): [
        "provider", "resolved_model", "events", "tokens", "model_usd",
        "usd_per_million_tokens",
    ],
    ("otel-cost-finops", "Unpriced share of events"): ["unpriced_pct"],
    ("otel-cost-finops", "Unpriced usage by model"): [
        "harness", "provider", "model", "events", "tokens",
    ],
    ("otel-cost-finops", "Cost status"): ["cost_status", "events", "cost_usd"],
    ("otel-cost-finops", "Event rows written by source"): ["time", "source", "rows"],
    ("otel-cost-finops", "Ingestion delay by source"): [
        "source", "rows", "p50_s", "p95_s", "max_s",
    ],
    ("otel-cost-finops", "Importers"): [
        "importer", "files", "events", "bad_lines", "last_read",
    ],
    ("otel-cost-finops", "Rate cards"): [
        "version", "effective_from", "source", "models", "findings", "recorded_at",
    ],
    ("otel-cost-finops", "Storage by table"): [
        "table", "rows", "bytes_on_disk", "uncompressed_bytes",
    ],
    ("otel-cost-finops", "Storage cost per month"): ["storage_usd_per_month"],
    ("otel-cost-finops", "Stored events"): ["rows"],
}  # fmt: skip

DEFAULTS = {"monthly_budget_usd": "100", "storage_usd_per_gb_month": "0.10"}


def test_every_panel_query_runs(
    loaded: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    seen = set()
    for uid, dashboard in dashboards.items():
        for item in dashboard["panels"]:
            if item["type"] == "row":
                continue
            key = (uid, item["title"])
            seen.add(key)
            for target in item["targets"]:
                columns, _ = run(loaded, target["rawSql"], Request(variables=DEFAULTS))
                assert columns == EXPECTED_COLUMNS[key], key
    assert seen == set(EXPECTED_COLUMNS)


def test_every_query_runs_filtered(
    loaded: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    variables = DEFAULTS | {
        "team": ["backend", "frontend"],
        "project": ["web"],
        "harness": ["claude-code"],
        "model": ["claude-sonnet-4-5"],
    }
    for dashboard in dashboards.values():
        queries = [
            target["rawSql"]
            for item in dashboard["panels"]
            for target in item.get("targets", [])
        ]
        queries += [v["query"]["rawSql"] for v in dashboard["templating"]["list"]
                    if v["type"] == "query"]  # fmt: skip
        for sql in queries:
            run(loaded, sql, Request(variables=variables))


# --- Hand-computed values -------------------------------------------------------------


def test_variable_queries_list_values(
    loaded: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    variables = {
        v["name"]: v for v in dashboards["otel-cost-team"]["templating"]["list"]
    }

    def values(name: str, **selected: Any) -> list[str]:
        sql = variables[name]["query"]["rawSql"]
        _, rows = run(loaded, sql, Request(variables=selected))
        return [row[0] for row in rows]

    assert values("team") == ["backend", "frontend"]
    assert values("project") == ["api", "batch", "web"]
    assert values("project", team=["frontend"]) == ["web"]
    assert values("harness") == ["claude-code", "codex", "sdk"]
    assert values("model") == ["claude-haiku-4-5", "claude-sonnet-4-5", "gpt-5"]


def test_developer_sees_own_spend(
    loaded: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    def sql(title: str) -> str:
        return panel_sql(dashboards, "otel-cost-developer", title)

    # dev: g1 2.00 + g2 1.00 priced, g4 unpriced.
    assert single(loaded, sql("My spend")) == Decimal("3")
    assert single(loaded, sql("Events")) == 3
    assert single(loaded, sql("Unpriced events")) == 1
    assert single(loaded, sql("Sessions")) == 2
    assert single(loaded, sql("My spend"), Request(login="ana")) == Decimal("4")
    assert single(loaded, sql("My spend"), Request(login="nobody")) == 0
    _, rows = run(loaded, sql("My sessions"))
    assert [(r[0], r[5], r[6], r[7], r[8]) for r in rows] == [
        ("s1", 2, Decimal("3"), 0, 2500),
        ("s3", 1, None, 1, 3000),
    ]
    _, rows = run(loaded, sql("My tokens by category"))
    assert rows[0][:6] == (4400, 600, 0, 0, 500, 0)
    _, rows = run(loaded, sql("My most expensive events"))
    assert [row[6] for row in rows] == [Decimal("2"), Decimal("1")]
    _, rows = run(loaded, sql("My burn by model"))
    hour_10 = datetime(2026, 11, 17, 10, 0)
    hour_11 = datetime(2026, 11, 17, 11, 0)
    assert rows == [(hour_10, "claude-sonnet-4-5", Decimal("3")), (hour_11, "", 0)]


def test_team_budget_panels(
    loaded: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    def sql(title: str) -> str:
        return panel_sql(dashboards, "otel-cost-team", title)

    request = Request(variables=DEFAULTS)
    # November: batch 16 days x 1.5 = 24 + 10 spike, g1 2, g2 1, g3 4.
    assert single(loaded, sql("Month to date"), request) == Decimal("41")
    assert single(loaded, sql("Budget used this month"), request) == 41.0
    # 41 + (7 days to 18 Nov 12:00: 1+2+1+2+1 batch + 17 on the 17th) / 7 x 12 days left.
    projected = single(loaded, sql("Projected month end"), request)
    assert abs(projected - (Decimal(41) + Decimal(24) / 7 * 12)) < Decimal("1e-9")
    web = Request(variables=DEFAULTS | {"project": ["web"]})
    assert single(loaded, sql("Month to date"), web) == Decimal("3")
    backend = Request(variables=DEFAULTS | {"team": ["backend"]})
    assert single(loaded, sql("Month to date"), backend) == Decimal("38")
    no_budget = Request(variables=DEFAULTS | {"monthly_budget_usd": "0"})
    assert single(loaded, sql("Budget used this month"), no_budget) is None


def test_team_burn_down(loaded: Store, dashboards: dict[str, dict[str, Any]]) -> None:
    sql = panel_sql(dashboards, "otel-cost-team", "Burn-down against budget")
    _, rows = run(loaded, sql, Request(variables=DEFAULTS))
    assert len(rows) == 18
    assert rows[0] == (
        datetime(2026, 11, 1),
        Decimal("98"),
        round(100 * (1 - 1 / 30), 2),
    )
    assert rows[16][1] == Decimal("100") - Decimal("41") + Decimal("0")
    assert rows[17] == (datetime(2026, 11, 18), Decimal("59"), 40.0)


def test_team_attribution_and_trends(
    loaded: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    def rows(title: str) -> list[tuple[Any, ...]]:
        return run(loaded, panel_sql(dashboards, "otel-cost-team", title))[1]

    assert rows("Spend by project") == [
        ("batch", Decimal("34")),
        ("api", Decimal("4")),
        ("web", Decimal("3")),
    ]
    # backend has 6 people in range (ana, dev, bot0 to bot3), frontend only dev.
    assert rows("Spend by team") == [
        ("backend", Decimal("38")),
        ("(teams under 5 people)", Decimal("3")),
    ]
    # October: batch 9 x 1 + 8 x 2 = 25, plus g5 5.
    assert rows("Month over month") == [
        ("2026-10", Decimal("30"), None),
        ("2026-11", Decimal("41"), 36.7),
    ]
    forecast = rows("Forecast vs actual")
    assert forecast[0][:2] == (datetime(2026, 11, 1), Decimal("2"))
    assert forecast[0][2] == pytest.approx(10 / 7, abs=1e-6)
    assert forecast[16][:2] == (datetime(2026, 11, 17), Decimal("17"))
    assert forecast[16][2] == pytest.approx(10 / 7, abs=1e-6)


def test_team_anomaly_markers(
    loaded: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    sql = panel_sql(dashboards, "otel-cost-team", "Spend anomalies")
    # Baseline of batch: 7 days of 1 and 7 of 2, mean 1.5, sd 0.5; 10 is 17 sigma above.
    assert run(loaded, sql)[1] == [
        (datetime(2026, 11, 17), "batch", Decimal("10"), 1.5, 17.0)
    ]
    (entry,) = [a for a in dashboards["otel-cost-team"]["annotations"]["list"]
                if "target" in a]  # fmt: skip
    columns, rows = run(loaded, entry["target"]["rawSql"])
    assert columns == ["time", "title", "text", "tags"]
    assert rows == [
        (
            datetime(2026, 11, 17),
            "Spend anomaly: batch",
            "batch spent 10 USD, 17 sigma above its 14-day baseline",
            ["otel-cost", "anomaly"],
        )
    ]


def test_finops_mix_and_unpriced(
    loaded: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    def rows(title: str) -> list[tuple[Any, ...]]:
        return run(loaded, panel_sql(dashboards, "otel-cost-finops", title))[1]

    assert rows("Provider mix") == [
        ("anthropic", Decimal("37")),
        ("openai", Decimal("4")),
    ]
    mix = rows("Model mix")
    assert [row[:5] for row in mix] == [
        ("anthropic", "claude-haiku-4-5", 17, 1700, Decimal("34")),
        ("openai", "gpt-5", 1, 3500, Decimal("4")),
        ("anthropic", "claude-sonnet-4-5", 2, 2500, Decimal("3")),
    ]
    assert mix[0][5] == Decimal("20000")
    assert mix[2][5] == Decimal("1200")
    # 1 unpriced event of 21 in range.
    assert rows("Unpriced share of events") == [(4.76,)]
    assert rows("Unpriced usage by model") == [
        ("codex", "openai", "mystery-model", 1, 3000)
    ]
    assert rows("Cost status") == [("priced", 20, Decimal("41")), ("unpriced", 1, 0)]


def test_finops_pipeline_and_storage(
    loaded: Store, dashboards: dict[str, dict[str, Any]]
) -> None:
    def rows(title: str, request: Request | None = None) -> list[tuple[Any, ...]]:
        return run(loaded, panel_sql(dashboards, "otel-cost-finops", title), request)[1]

    now = datetime.now(UTC)
    live = Request(start=now - timedelta(hours=1), end=now + timedelta(minutes=1))
    written = rows("Event rows written by source", live)
    totals: dict[str, int] = {}
    for _, source, count in written:
        totals[source] = totals.get(source, 0) + count
    assert totals == {"hook": 4, "import": 1, "sdk": 34}
    delay = {row[0]: row for row in rows("Ingestion delay by source", live)}
    assert delay["hook"][1] == 4
    assert delay["sdk"][1] == 34
    assert (
        delay["import"][4] >= (date.today() - date(2026, 10, 15)).days * 86400 - 86400
    )
    assert rows("Event rows written by source") == []
    assert [row[:4] for row in rows("Importers")] == [("claude-code", 1, 12, 1)]
    assert [row[0] for row in rows("Rate cards")] == ["litellm-2026-07-24"]
    storage = {row[0]: row for row in rows("Storage by table")}
    assert storage["cost_events"][1] == 39
    assert storage["cost_events"][2] > 0
    assert rows("Stored events") == [(39,)]
    total_bytes = sum(row[2] for row in storage.values())
    priced = Request(variables={"storage_usd_per_gb_month": "1000000"})
    expected = round(total_bytes / 1000, 4)
    assert rows("Storage cost per month", priced)[0][0] == pytest.approx(expected)
