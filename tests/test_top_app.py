"""``otel-cost top``: snapshot queries and the Textual app, driven headless."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Static
from textual.worker import WorkerCancelled

from otel_cost.events import CostEvent, CostStatus, TokenCategory, Usage
from otel_cost.store import Store
from otel_cost.store.writer import write_events
from otel_cost.views import panels
from otel_cost.views.model import BudgetLine, Query
from otel_cost.views.source import StoreSource
from otel_cost.views.top_app import SessionScreen, SessionsScreen, TopApp

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def event(
    event_id: str,
    minutes_ago: float,
    session: str,
    project: str,
    provider: str,
    model: str,
    cost: str | None,
    **tokens: int,
) -> CostEvent:
    """A cost event priced by hand: ``cost`` None means unpriced."""
    return CostEvent(
        event_id=event_id,
        ts=NOW - timedelta(minutes=minutes_ago),
        harness="claude-code",
        source="hook",
        session_id=session,
        provider=provider,
        model=model,
        resolved_model=model,
        project=project,
        usage=Usage(
            tokens={TokenCategory(name): count for name, count in tokens.items()}
        ),
        cost_status=CostStatus.PRICED if cost else CostStatus.UNPRICED,
        cost_usd=Decimal(cost) if cost else None,
    )


FIXTURE_EVENTS = [
    event("e1", 10, "s-alpha", "alpha", "anthropic", "claude-sonnet-4-5", "0.25",
          input=1000, output=500),
    event("e2", 5, "s-alpha", "alpha", "anthropic", "claude-sonnet-4-5", "0.50",
          input=2000, cache_read=3000, output=1000),
    event("e3", 180, "s-beta", "beta", "openai", "gpt-5", "1.20",
          input=4000, output=2000),
    event("e4", 120, "s-beta", "beta", "openai", "mystery-model", None, input=7000),
    event("e5", 3 * 24 * 60, "s-old", "alpha", "google", "gemini-2.5-pro", "3.00",
          input=9000),
]  # fmt: skip


@pytest.fixture
def utc_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make local time UTC so "today" starts at 00:00Z."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def source(store: Store, utc_zone: None) -> StoreSource:
    """The store loaded with the fixture events."""
    write_events(store, FIXTURE_EVENTS)
    return StoreSource(store)


def plain(widget: Static) -> str:
    """Render a panel's content to plain text, 80 columns wide."""
    console = Console(width=80, record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


def test_snapshot_rolling_windows(source: StoreSource) -> None:
    snapshot = source.snapshot(Query(), NOW)
    assert snapshot.rolling["1h"].cost_usd == Decimal("0.75")
    assert snapshot.rolling["1h"].events == 2
    assert snapshot.rolling["24h"].cost_usd == Decimal("1.95")
    assert snapshot.rolling["24h"].events == 4
    assert snapshot.rolling["24h"].unpriced_events == 1
    assert snapshot.rolling["7d"].cost_usd == Decimal("4.95")
    assert snapshot.rolling["7d"].events == 5
    assert snapshot.today.cost_usd == Decimal("1.95")


def test_snapshot_current_session_burn(source: StoreSource) -> None:
    current = source.snapshot(Query(), NOW).current_session
    assert current is not None
    assert current.session.session_id == "s-alpha"
    assert current.session.cost_usd == Decimal("0.75")
    # 0.75 USD over the 5 minutes between its first and last event.
    assert current.session.rate_usd_per_minute == Decimal("0.15")
    assert current.tokens["input"] == 3000
    assert current.tokens["cache_read"] == 3000
    assert current.tokens["output"] == 1500
    assert [op.cost_usd for op in current.operations] == [
        Decimal("0.5"),
        Decimal("0.25"),
    ]


def test_snapshot_mix_and_top(source: StoreSource) -> None:
    snapshot = source.snapshot(Query(period="24h", grouping="provider", top_n=2), NOW)
    assert [(row.key, row.cost_usd, row.events) for row in snapshot.mix] == [
        ("openai", Decimal("1.2"), 2),
        ("anthropic", Decimal("0.75"), 2),
    ]
    assert snapshot.mix[0].unpriced_events == 1
    assert [op.cost_usd for op in snapshot.top_operations] == [
        Decimal("1.2"),
        Decimal("0.5"),
    ]
    assert snapshot.top_operations[0].total_tokens == 6000


def test_unpriced_line_names_missing_model(source: StoreSource) -> None:
    snapshot = source.snapshot(Query(), NOW)
    unpriced = dataclasses.replace(snapshot.unpriced, models=["", "mystery-model"])
    line = panels.unpriced_line(dataclasses.replace(snapshot, unpriced=unpriced)).plain
    assert "((no model), mystery-model)" in line


def test_snapshot_unpriced_and_projects(source: StoreSource) -> None:
    snapshot = source.snapshot(Query(), NOW)
    assert snapshot.unpriced.events == 1
    assert snapshot.unpriced.tokens == 7000
    assert snapshot.unpriced.models == ["mystery-model"]
    assert snapshot.projects == ["alpha", "beta"]
    assert [(row.key, row.cost_usd) for row in snapshot.project_today] == [
        ("beta", Decimal("1.2")),
        ("alpha", Decimal("0.75")),
    ]
    assert snapshot.budgets is None


def test_snapshot_project_filter(source: StoreSource) -> None:
    snapshot = source.snapshot(Query(period="7d", project="alpha"), NOW)
    assert snapshot.period_total.cost_usd == Decimal("3.75")
    assert snapshot.rolling["24h"].cost_usd == Decimal("0.75")
    assert snapshot.unpriced.events == 0


async def wait_for_reload(app: TopApp, pilot: object) -> None:
    """Let the load workers finish and their result reach the screen."""
    while True:
        try:
            await app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            # A newer load replaced this one; wait for that one instead.
            continue
    await pilot.pause()  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_top_panels_at_80x24(source: StoreSource) -> None:
    app = TopApp(source, Query(), refresh_seconds=5, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_reload(app, pilot)
        rolling = plain(app.query_one("#rolling", Static))
        assert "1h" in rolling
        assert "$0.7500" in rolling
        assert "$1.95" in rolling
        assert "$4.95" in rolling
        assert "no budgets" in rolling
        session = plain(app.query_one("#session", Static))
        assert "s-alpha" in session
        assert "$0.1500/min" in session
        mix = plain(app.query_one("#mix", Static))
        assert mix.index("openai") < mix.index("anthropic")
        assert "62%" in mix
        assert "38%" in mix
        unpriced = plain(app.query_one("#unpriced", Static))
        assert "1 unpriced event," in unpriced
        assert "mystery-model" in unpriced
        operations = plain(app.query_one("#operations", Static))
        assert "$1.20" in operations
        assert app.query_one("#operations", Static).region.bottom <= 24


@pytest.mark.anyio
async def test_top_keys_switch_selection(source: StoreSource) -> None:
    app = TopApp(source, Query(), refresh_seconds=5, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_reload(app, pilot)
        await pilot.press("p")
        await wait_for_reload(app, pilot)
        assert app.selection.period == "7d"
        assert app.snapshot is not None
        assert app.snapshot.period_total.cost_usd == Decimal("4.95")
        await pilot.press("g")
        await wait_for_reload(app, pilot)
        assert "mix by model" in str(app.query_one("#mix", Static).border_title)
        assert app.snapshot.mix[0].key == "gemini-2.5-pro"
        await pilot.press("j")
        await wait_for_reload(app, pilot)
        assert app.selection.project == "alpha"
        assert app.snapshot.period_total.cost_usd == Decimal("3.75")
        await pilot.press("j", "j")
        await wait_for_reload(app, pilot)
        assert app.selection.project is None


@pytest.mark.anyio
async def test_top_drills_into_session(source: StoreSource) -> None:
    app = TopApp(source, Query(period="7d"), refresh_seconds=5, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_reload(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)
        table = app.screen.query_one("#sessions", DataTable)
        assert table.row_count == 3
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, SessionScreen)
        assert app.screen.session_id == "s-beta"
        summary = plain(app.screen.query_one("#session-summary", Static))
        assert "$1.20" in summary
        assert "1 unpriced event" in summary
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


@pytest.mark.anyio
async def test_top_shows_new_event(source: StoreSource, store: Store) -> None:
    app = TopApp(source, Query(), refresh_seconds=0.2, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_reload(app, pilot)
        assert app.snapshot is not None
        assert app.snapshot.rolling["1h"].cost_usd == Decimal("0.75")
        write_events(
            store,
            [event("e6", 1, "s-gamma", "alpha", "anthropic", "claude-opus-4-1", "2.00",
                   input=10)],
        )  # fmt: skip
        ingested = time.monotonic()
        while app.snapshot.rolling["1h"].cost_usd == Decimal("0.75"):
            assert time.monotonic() - ingested < 5, "new event not shown within 5 s"
            await pilot.pause(0.1)
        assert app.snapshot.rolling["1h"].cost_usd == Decimal("2.75")
        assert app.snapshot.current_session is not None
        assert app.snapshot.current_session.session.session_id == "s-gamma"


def test_snapshot_budget_colours(
    source: StoreSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "envelopes:\n"
        "  - {name: alpha, scope: project, limit_usd: 4, match: {project: alpha}}\n"
        "  - {name: beta, scope: project, limit_usd: 2, match: {project: beta}}\n"
    )
    monkeypatch.setenv("OTEL_COST_BUDGETS_FILE", str(budgets))
    snapshot = source.snapshot(Query(), NOW)
    assert snapshot.budgets is not None
    lines = {line.name: line for line in snapshot.budgets}
    # alpha this month: 0.25 + 0.50 + 3.00 of 4.00 is 93.75%; beta 1.20 of 2.00 is 60%.
    assert lines["alpha"].spent_usd == Decimal("3.75")
    assert lines["alpha"].remaining_usd == Decimal("0.25")
    assert lines["alpha"].state.value == "red"
    assert lines["beta"].state.value == "green"
    table = panels.budgets_panel(snapshot.budgets)
    console = Console(width=40, record=True, color_system="truecolor")
    console.print(table)
    text = console.export_text(clear=False)
    assert "alpha" in text
    assert "$0.2500" in text
    assert "94%" in text
    assert "#c62828" in console.export_html(inline_styles=True).lower()


def test_budget_panel_names_unpriced_events() -> None:
    line = BudgetLine(
        scope="session",
        name="dev-session",
        limit_usd=Decimal("1"),
        spent_usd=Decimal("0.5"),
        unpriced_events=2,
        instance="sess-otlp-1",
    )
    console = Console(width=80, record=True)
    console.print(panels.budgets_panel([line]))
    text = console.export_text()
    assert "dev-session sess-otlp-1" in text
    assert "50% +2 unpriced events" in text
