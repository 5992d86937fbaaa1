"""Rich renderables for the panels of ``otel-cost top``, built from a `Snapshot`."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from otel_cost.views.display import STATE_COLOURS, money, percent, tokens
from otel_cost.views.model import (
    ROLLING_WINDOWS,
    BudgetLine,
    Operation,
    SessionDetail,
    SessionRow,
    Snapshot,
)


def _grid(*headers: str) -> Table:
    # Only the first column shrinks on a narrow terminal: numbers stay whole.
    table = Table(box=None, pad_edge=False, expand=True, show_edge=False)
    for index, header in enumerate(headers):
        if index == 0:
            table.add_column(header, no_wrap=True, overflow="ellipsis", ratio=1)
        else:
            table.add_column(
                header, justify="right", no_wrap=True, min_width=len(header)
            )
    return table


def header(snapshot: Snapshot) -> Text:
    """Return the one-line status: period, project, grouping, source and time."""
    query = snapshot.query
    local_time = snapshot.taken_at.astimezone().strftime("%H:%M:%S")
    return Text.assemble(
        ("otel-cost top", "bold"),
        f"  period {query.period}  project {query.project or 'all'}",
        f"  by {query.grouping}  via {snapshot.source}  {local_time}",
    )


def session_panel(detail: SessionDetail | None) -> RenderableType:
    """Return the current session's burn: cost, rate and tokens by category."""
    if detail is None:
        return Text("no session in this period", style="dim")
    session = detail.session
    lines = [
        Text.assemble(("session ", "bold"), session.session_id[:24]),
        Text(f"{session.harness} · {session.project or '(no project)'}"),
        Text.assemble(
            (money(session.cost_usd), "bold"),
            f"  {money(session.rate_usd_per_minute)}/min  {_count(session.events, 'event')}",
        ),
    ]
    used = [(name, count) for name, count in detail.tokens.items() if count]
    if used:
        lines.append(Text("  ".join(f"{name} {tokens(count)}" for name, count in used)))
    if session.unpriced_events:
        lines.append(
            Text(_count(session.unpriced_events, "unpriced event"), style="bold red")
        )
    return Group(*lines)


def rolling_panel(snapshot: Snapshot) -> RenderableType:
    """Return rolling 1h/24h/7d totals followed by the budgets."""
    table = _grid("window", "spend", "events")
    table.add_row("today", money(snapshot.today.cost_usd), str(snapshot.today.events))
    for window in ROLLING_WINDOWS:
        total = snapshot.rolling[window]
        table.add_row(window, money(total.cost_usd), str(total.events))
    return Group(table, budgets_panel(snapshot.budgets))


def budgets_panel(budgets: list[BudgetLine] | None) -> RenderableType:
    """Return each budget's remaining amount, coloured green, amber or red."""
    if not budgets:
        return Text("no budgets", style="dim")
    table = _grid("budget", "left", "used")
    for line in budgets:
        style = STATE_COLOURS[line.state]
        used = percent(line.spent_usd, line.limit_usd)
        name = " ".join(
            part for part in (line.name or line.scope, line.instance) if part
        )
        if line.unpriced_events:
            # Spend leaves these out, so "used" may be too low.
            used += f" +{_count(line.unpriced_events, 'unpriced event')}"
        table.add_row(
            Text(name, style=style),
            Text(money(line.remaining_usd), style=style),
            Text(used, style=style),
        )
    return table


def mix_panel(snapshot: Snapshot) -> RenderableType:
    """Return the spend of the period grouped by the selected dimension."""
    table = _grid(snapshot.query.grouping, "spend", "share")
    whole = snapshot.period_total.cost_usd
    for row in snapshot.mix:
        cost = money(row.cost_usd) if row.events > row.unpriced_events else "unpriced"
        table.add_row(row.key or "(none)", cost, percent(row.cost_usd, whole))
    if not snapshot.mix:
        return Text("no spend in this period", style="dim")
    return table


def operations_panel(operations: list[Operation]) -> RenderableType:
    """Return the most expensive events, one line each."""
    if not operations:
        return Text("no priced events in this period", style="dim")
    table = _grid("model / operation", "tokens", "cost")
    for op in operations:
        label = f"{op.model} {op.tool_name or op.operation}"
        table.add_row(label, tokens(op.total_tokens), money(op.cost_usd))
    return table


def unpriced_line(snapshot: Snapshot) -> Text:
    """Return a warning about usage without a price, or an empty line."""
    unpriced = snapshot.unpriced
    if not unpriced.events:
        return Text("")
    # An event that named no model has an empty name, shown as such.
    names = [model or "(no model)" for model in unpriced.models]
    models = ", ".join(names) if names else "unknown models"
    return Text(
        f"! {_count(unpriced.events, 'unpriced event')}, {tokens(unpriced.tokens)} tokens "
        f"without a price ({models}): totals exclude them",
        style="bold red",
    )


def sessions_rows(rows: list[SessionRow]) -> list[tuple[str, ...]]:
    """Return table cells for the session list: id, project, last active, cost."""
    return [
        (
            row.session_id,
            row.project or "(none)",
            row.last_seen.astimezone().strftime("%m-%d %H:%M"),
            str(row.events),
            money(row.cost_usd),
        )
        for row in rows
    ]


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"
