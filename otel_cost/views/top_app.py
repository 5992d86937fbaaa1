"""``otel-cost top``: a terminal dashboard of live spend, built with Textual.

Data is loaded in a worker thread every ``refresh_seconds`` so a slow query
never freezes the keyboard. The layout fits 80x24 and grows with the terminal.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from otel_cost.views import panels
from otel_cost.views.model import (
    DEFAULT_REFRESH_SECONDS,
    GROUPINGS,
    PERIODS,
    Query,
    SessionRow,
    Snapshot,
)
from otel_cost.views.source import ViewSource, utc_now

logger = logging.getLogger(__name__)


def _next(options: list[str], current: str) -> str:
    index = options.index(current) if current in options else -1
    return options[(index + 1) % len(options)]


class SessionScreen(Screen[None]):
    """One session: burn, tokens by category and its most expensive events."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, source: ViewSource, session_id: str, top_n: int) -> None:
        """Show ``session_id`` read from ``source``."""
        super().__init__()
        self.source = source
        self.session_id = session_id
        self.top_n = top_n

    def compose(self) -> ComposeResult:
        """Lay out the session summary above its event list."""
        yield Static(id="session-summary", classes="panel")
        yield Static(id="session-operations", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        """Load the session once; it is history, not a live panel."""
        summary = self.query_one("#session-summary", Static)
        try:
            detail = self.source.session_detail(self.session_id, self.top_n)
        except Exception as exc:  # noqa: BLE001 - show the failure, keep the app
            logger.warning("loading session %s failed: %s", self.session_id, exc)
            summary.update(f"loading session {self.session_id} failed: {exc}")
            return
        summary.update(panels.session_panel(detail))
        ops = detail.operations if detail else []
        self.query_one("#session-operations", Static).update(
            panels.operations_panel(ops)
        )


class SessionsScreen(Screen[None]):
    """The sessions of the selected period; Enter opens one."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, rows: list[SessionRow], source: ViewSource, top_n: int) -> None:
        """List ``rows``; details are read from ``source`` on demand."""
        super().__init__()
        self.rows = rows
        self.source = source
        self.top_n = top_n

    def compose(self) -> ComposeResult:
        """Lay out the session table."""
        yield DataTable(id="sessions", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        """Fill the table, one row per session."""
        table = self.query_one("#sessions", DataTable)
        table.add_columns("session", "project", "last", "events", "cost")
        for row, cells in zip(self.rows, panels.sessions_rows(self.rows), strict=True):
            table.add_row(*cells, key=row.session_id)
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Open the selected session."""
        session_id = str(event.row_key.value)
        self.app.push_screen(SessionScreen(self.source, session_id, self.top_n))


class TopApp(App[None]):
    """Live spend: current session, rolling totals, budgets, mix and top events."""

    TITLE = "otel-cost top"
    CSS = """
    #header { height: 1; background: $primary-background; }
    #unpriced { height: auto; max-height: 2; }
    #grid { grid-size: 2 2; grid-rows: auto 1fr; grid-gutter: 0 1; }
    .panel { border: round $secondary; padding: 0 1; height: auto; }
    #mix, #operations { height: 1fr; }
    """
    BINDINGS = [
        Binding("p", "cycle_period", "Period"),
        Binding("j", "cycle_project", "Project"),
        Binding("g", "cycle_grouping", "Group"),
        Binding("d", "current_session", "Session"),
        Binding("s", "sessions", "Sessions"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        source: ViewSource,
        query: Query | None = None,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Show data from ``source``, reloading every ``refresh_seconds``."""
        super().__init__()
        self.source = source
        self.selection = query or Query()
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.snapshot: Snapshot | None = None
        self.last_error: str | None = None

    def compose(self) -> ComposeResult:
        """Lay out the header, the unpriced warning and four panels."""
        yield Static(id="header")
        yield Static(id="unpriced")
        with Grid(id="grid"):
            yield Static(id="session", classes="panel")
            yield Static(id="rolling", classes="panel")
            yield Static(id="mix", classes="panel")
            yield Static(id="operations", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        """Set panel titles, load once and start the refresh timer."""
        titles = {
            "session": "current session",
            "rolling": "rolling spend",
            "mix": "mix",
            "operations": "top events",
        }
        for widget_id, title in titles.items():
            self.query_one(f"#{widget_id}", Static).border_title = title
        self.reload()
        self.set_interval(self.refresh_seconds, self.reload)

    def reload(self) -> None:
        """Load a fresh snapshot in a worker thread; `_show` drops stale selections."""
        self.run_worker(self._load, thread=True, exclusive=True, group="reload")

    def _load(self) -> None:
        query = self.selection
        try:
            snapshot = self.source.snapshot(query, self.clock())
        except Exception as exc:  # noqa: BLE001 - a failed refresh must not end the app
            # The store or service may be restarting; the next tick retries.
            logger.warning("dashboard refresh failed: %s", exc)
            self.call_from_thread(self._show_error, str(exc))
            return
        self.call_from_thread(self._show, snapshot)

    def _show_error(self, message: str) -> None:
        self.last_error = message
        self.query_one("#unpriced", Static).update(
            f"[b red]refresh failed:[/] {message}"
        )

    def _show(self, snapshot: Snapshot) -> None:
        if snapshot.query != self.selection:
            return
        self.snapshot = snapshot
        self.last_error = None
        self.query_one("#header", Static).update(panels.header(snapshot))
        self.query_one("#unpriced", Static).update(panels.unpriced_line(snapshot))
        self.query_one("#session", Static).update(
            panels.session_panel(snapshot.current_session)
        )
        self.query_one("#rolling", Static).update(panels.rolling_panel(snapshot))
        self.query_one(
            "#mix", Static
        ).border_title = f"mix by {snapshot.query.grouping}"
        self.query_one("#mix", Static).update(panels.mix_panel(snapshot))
        self.query_one("#operations", Static).update(
            panels.operations_panel(snapshot.top_operations)
        )

    def _select(self, **changes: Any) -> None:
        self.selection = dataclasses.replace(self.selection, **changes)
        self.reload()

    def action_cycle_period(self) -> None:
        """Switch to the next look-back period."""
        self._select(period=_next(list(PERIODS), self.selection.period))

    def action_cycle_project(self) -> None:
        """Switch to the next project; after the last one, back to all projects."""
        known = self.snapshot.projects if self.snapshot else []
        options = ["", *known]
        self._select(project=_next(options, self.selection.project or "") or None)

    def action_cycle_grouping(self) -> None:
        """Group the mix by the next dimension."""
        self._select(grouping=_next(list(GROUPINGS), self.selection.grouping))

    def action_refresh_now(self) -> None:
        """Reload without waiting for the timer."""
        self.reload()

    def action_current_session(self) -> None:
        """Open the current session in detail."""
        if self.snapshot and self.snapshot.current_session:
            session_id = self.snapshot.current_session.session.session_id
            self.push_screen(
                SessionScreen(self.source, session_id, self.selection.top_n)
            )

    def action_sessions(self) -> None:
        """List the sessions of the selected period."""
        try:
            rows = self.source.sessions(self.selection, self.clock())
        except Exception as exc:  # noqa: BLE001 - show the failure, keep the app
            logger.warning("listing sessions failed: %s", exc)
            self.notify(f"listing sessions failed: {exc}", severity="error")
            return
        self.push_screen(SessionsScreen(rows, self.source, self.selection.top_n))
