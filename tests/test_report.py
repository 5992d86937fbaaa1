"""Reports: every grouping sums to the same total; days follow the time zone."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from click.testing import CliRunner

from otel_cost.cli.main import cli
from otel_cost.events import CostEvent, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.reports.report import GROUPINGS, build_report, day_bounds
from otel_cost.store import Store
from otel_cost.store.writer import write_events

OPUS = "claude-opus-4-8"
# (id, time, harness, session, project, model, input, output)
EVENTS = [
    ("r1", datetime(2026, 11, 20, 22, 30, tzinfo=UTC), "claude-code", "s1", "shop", OPUS,
     1000, 100),
    ("r2", datetime(2026, 11, 21, 1, 15, tzinfo=UTC), "claude-code", "s1", "shop", OPUS,
     2000, 0),
    ("r3", datetime(2026, 11, 21, 9, 0, tzinfo=UTC), "codex", "s2", "api", "gpt-5.5",
     4000, 1000),
    ("r4", datetime(2026, 11, 21, 9, 5, tzinfo=UTC), "codex", "s2", "api", "mystery-model",
     500, 50),
]  # fmt: skip
# claude-opus-4-8: 5e-06 in, 2.5e-05 out; gpt-5.5: 5e-06 in, 3e-05 out.
COST_R1 = 1000 * D("0.000005") + 100 * D("0.000025")
COST_R2 = 2000 * D("0.000005")
COST_R3 = 4000 * D("0.000005") + 1000 * D("0.00003")
TOTAL = COST_R1 + COST_R2 + COST_R3


@pytest.fixture
def loaded(store: Store, registry: PricingRegistry) -> Store:
    events = [
        registry.price_event(
            CostEvent(
                event_id=event_id,
                ts=ts,
                harness=harness,
                source="import",
                session_id=session,
                project=project,
                model=model,
                usage=Usage(tokens={T.INPUT: tokens_in, T.OUTPUT: tokens_out}),
            )  # fmt: skip
        )
        for event_id, ts, harness, session, project, model, tokens_in, tokens_out in EVENTS
    ]
    write_events(store, events)
    return store


@pytest.mark.parametrize("group_by", list(GROUPINGS))
def test_grouping_sums_to_total(loaded: Store, group_by: str) -> None:
    report = build_report(loaded, group_by, "UTC")
    assert report.total_usd == TOTAL
    assert sum((row.cost_usd for row in report.rows), D(0)) == TOTAL
    assert sum(row.events for row in report.rows) == 4
    assert sum(row.unpriced_events for row in report.rows) == 1
    assert sum(row.tokens.get("input", 0) for row in report.rows) == 7500


def test_rollup_matches_raw_total(loaded: Store) -> None:
    rollup = loaded.query("SELECT sum(cost_usd), sum(events) FROM cost_rollup_15m")[0]
    assert rollup == (TOTAL, 4)


def test_days_follow_time_zone(loaded: Store) -> None:
    utc = {row.key: row.cost_usd for row in build_report(loaded, "day", "UTC").rows}
    assert utc == {"2026-11-20": COST_R1, "2026-11-21": COST_R2 + COST_R3}
    # In New York (UTC-5) the 01:15 UTC event still falls on the 20th.
    new_york = {
        row.key: row.cost_usd
        for row in build_report(loaded, "day", "America/New_York").rows
    }
    assert new_york == {"2026-11-20": COST_R1 + COST_R2, "2026-11-21": COST_R3}
    # In Tokyo (UTC+9) the 22:30 UTC event is already on the 21st.
    tokyo = {
        row.key: row.cost_usd for row in build_report(loaded, "day", "Asia/Tokyo").rows
    }
    assert tokyo == {"2026-11-21": COST_R1 + COST_R2 + COST_R3}


def test_since_until_bound_days(loaded: Store) -> None:
    start, end = day_bounds(date(2026, 11, 21), date(2026, 11, 21), "UTC")
    report = build_report(loaded, "session", "UTC", start, end)
    assert report.total_usd == COST_R2 + COST_R3
    assert report.events == 3


def test_unpriced_row_shows_null_cost(loaded: Store) -> None:
    rows = {row.key: row for row in build_report(loaded, "model", "UTC").rows}
    mystery = rows["mystery-model"]
    assert mystery.cost_usd == D(0)
    assert mystery.unpriced_events == 1
    assert mystery.tokens == {"input": 500, "output": 50}


def test_cli_json_and_csv(loaded: Store, engine_dsn: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "report",
            "--db",
            engine_dsn,
            "--by",
            "harness",
            "--tz",
            "UTC",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert D(payload["total_usd"]) == TOTAL
    assert payload["unpriced_events"] == 1
    keys = {row["key"]: D(row["cost_usd"]) for row in payload["rows"]}
    assert keys == {"claude-code": COST_R1 + COST_R2, "codex": COST_R3}
    result = runner.invoke(
        cli,
        [
            "report",
            "--db",
            engine_dsn,
            "--by",
            "project",
            "--tz",
            "UTC",
            "--format",
            "csv",
        ],
    )
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {row["project"]: D(row["cost_usd"]) for row in rows} == {
        "shop": COST_R1 + COST_R2,
        "api": COST_R3,
    }
    # Costs are written without trailing zeros, as the service writes them.
    assert all(not row["cost_usd"].endswith("0") for row in rows)


def test_cli_table_says_unpriced(loaded: Store, engine_dsn: str) -> None:
    result = CliRunner().invoke(
        cli, ["report", "--db", engine_dsn, "--by", "model", "--tz", "UTC"]
    )
    assert result.exit_code == 0, result.output
    assert "Unpriced: 1 event." in result.output
    assert "unpriced" in result.output.split("mystery-model")[1].splitlines()[0]
    assert "$0.07" in result.output  # 0.0675 rounds half up to 0.07


def test_cli_rejects_unknown_zone(engine_dsn: str) -> None:
    result = CliRunner().invoke(
        cli, ["report", "--db", engine_dsn, "--tz", "Mars/Olympus"]
    )
    assert result.exit_code == 2
    assert "unknown time zone 'Mars/Olympus'" in result.output


def test_cli_rejects_reversed_range(engine_dsn: str) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "--db",
            engine_dsn,
            "--since",
            "2026-11-24",
            "--until",
            "2026-11-23",
        ],
    )
    assert result.exit_code == 2
    assert "is after --until" in result.output
