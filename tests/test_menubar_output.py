"""``otel-cost menubar``: SwiftBar and Argos output from the store and from budgets."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from otel_cost.cli.main import cli
from otel_cost.events import CostEvent, CostStatus, TokenCategory, Usage
from otel_cost.store import Store
from otel_cost.store.writer import write_events
from otel_cost.views.menubar import render
from otel_cost.views.model import (
    BudgetLine,
    BudgetState,
    DayStatus,
    MixRow,
    Total,
    worst_state,
)
from otel_cost.views.source import StoreSource

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
COMMAND = ["/opt/bin/otel-cost", "top"]


def priced(event_id: str, ts: datetime, project: str, cost: str | None) -> CostEvent:
    """An event of 100 input tokens; ``cost`` None means unpriced."""
    return CostEvent(
        event_id=event_id,
        ts=ts,
        harness="codex",
        source="hook",
        session_id=f"s-{project}",
        project=project,
        model="gpt-5",
        resolved_model="gpt-5",
        usage=Usage(tokens={TokenCategory.INPUT: 100}),
        cost_status=CostStatus.PRICED if cost else CostStatus.UNPRICED,
        cost_usd=Decimal(cost) if cost else None,
    )


@pytest.fixture
def utc_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make local time UTC so "today" starts at 00:00Z."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def status(budgets: list[BudgetLine] | None, unpriced: int = 0) -> DayStatus:
    """Today: web 3.10 USD, api 0.40 USD."""
    projects = [
        MixRow("web", Decimal("3.10"), 4, unpriced),
        MixRow("api", Decimal("0.40"), 1),
    ]
    return DayStatus(
        NOW, "store", Total(Decimal("3.50"), 5, unpriced), projects, budgets
    )


def test_budget_state_thresholds() -> None:
    limit = Decimal(100)
    cases = [("74.99", "green"), ("75", "amber"), ("89.99", "amber"), ("90", "red")]
    for spent, expected in cases:
        line = BudgetLine("project", "web", limit, Decimal(spent))
        assert line.state == BudgetState(expected), spent
    assert worst_state([]) == BudgetState.NONE


def test_swiftbar_title_worst_state() -> None:
    budgets = [
        BudgetLine("project", "web", Decimal(4), Decimal("3.10")),  # 77.5%: amber
        BudgetLine("project", "api", Decimal(10), Decimal("0.40")),  # 4%: green
    ]
    lines = render(status(budgets), "swiftbar", COMMAND).splitlines()
    assert lines[0] == "▲ $3.50 | color=#ef8f00"
    assert lines[1] == "---"
    assert "web: $3.10 | color=#ef8f00" in lines
    assert "api: $0.4000 | color=#2e7d32" in lines
    assert "web budget: 78% used, $0.9000 left | color=#ef8f00" in lines
    assert (
        "Open otel-cost top | shell=/opt/bin/otel-cost param1=top terminal=true"
        in lines
    )
    assert "Refresh | refresh=true" in lines


def test_swiftbar_red_and_unpriced() -> None:
    budgets = [BudgetLine("project", "web", Decimal("3.20"), Decimal("3.10"))]
    lines = render(status(budgets, unpriced=2), "swiftbar", COMMAND).splitlines()
    assert lines[0] == "■ $3.50 ? | color=#c62828"
    assert "2 unpriced events today | color=#c62828" in lines


def test_overspent_budget_says_over() -> None:
    budgets = [BudgetLine("project", "web", Decimal("3.00"), Decimal("3.15"))]
    lines = render(status(budgets), "swiftbar", COMMAND).splitlines()
    assert "web budget: 105% used, $0.1500 over | color=#c62828" in lines


def test_no_budgets_title_grey() -> None:
    lines = render(status(None), "swiftbar", COMMAND).splitlines()
    assert lines[0] == "$3.50 | color=#9e9e9e"
    assert "No budgets | color=#9e9e9e" in lines


def test_argos_runs_top_in_terminal() -> None:
    command = ["/home/dev/my tools/otel-cost", "top"]
    lines = render(status(None), "argos", command).splitlines()
    item = next(line for line in lines if line.startswith("Open otel-cost top"))
    text, params = item.split(" | ")
    assert params.endswith(" terminal=true")
    bash_value = params.removesuffix(" terminal=true").removeprefix("bash=")
    assert shlex.split(shlex.split(bash_value)[0]) == command


def test_project_name_cannot_inject() -> None:
    rows = status(None)
    rows.projects[0] = MixRow("evil | bash=rm", Decimal(1), 1)
    lines = render(rows, "swiftbar", COMMAND).splitlines()
    assert "evil / bash=rm: $1.00 | color=#9e9e9e" in lines


def test_day_status_from_store(store: Store, utc_zone: None) -> None:
    write_events(
        store,
        [
            priced("a", NOW - timedelta(hours=2), "web", "1.25"),
            priced("b", NOW - timedelta(hours=1), "web", "0.50"),
            priced("c", NOW - timedelta(minutes=30), "api", None),
            priced("d", NOW - timedelta(hours=16), "web", "9.00"),  # yesterday
        ],
    )
    day = StoreSource(store).day_status(NOW)
    assert day.today.cost_usd == Decimal("1.75")
    assert day.today.events == 3
    assert day.today.unpriced_events == 1
    assert [(row.key, row.cost_usd) for row in day.projects] == [
        ("web", Decimal("1.75")),
        ("api", Decimal(0)),
    ]
    assert day.budgets is None


def test_menubar_command_reads_store(store: Store, utc_zone: None) -> None:
    now = datetime.now(UTC)
    write_events(store, [priced("a", now - timedelta(seconds=5), "web", "2.5")])
    result = CliRunner().invoke(cli, ["menubar", "--format", "argos"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "$2.50 | color=#9e9e9e"
    assert "web: $2.50 | color=#9e9e9e" in lines
    assert any("bash=" in line and "terminal=true" in line for line in lines)


def test_menubar_budget_file_colours(
    store: Store, utc_zone: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "envelopes:\n"
        "  - {name: web-monthly, scope: project, limit_usd: 3, match: {project: web}}\n"
        "  - {name: api-monthly, scope: project, limit_usd: 10, match: {project: api}}\n"
    )
    monkeypatch.setenv("OTEL_COST_BUDGETS_FILE", str(budgets))
    now = datetime.now(UTC)
    write_events(
        store,
        [
            priced("a", now - timedelta(seconds=5), "web", "2.50"),
            priced("b", now - timedelta(seconds=4), "api", "1.00"),
        ],
    )
    result = CliRunner().invoke(cli, ["menubar"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # web: 2.50 of 3.00 is 83%, amber; api: 10%, green.
    assert lines[0] == "▲ $3.50 | color=#ef8f00"
    assert "web: $2.50 | color=#ef8f00" in lines
    assert "api: $1.00 | color=#2e7d32" in lines
    assert "web-monthly budget: 83% used, $0.5000 left | color=#ef8f00" in lines
