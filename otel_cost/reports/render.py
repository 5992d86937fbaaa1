"""Rendering reports as a terminal table or CSV. Money is rounded here, once."""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal

from rich.console import Console
from rich.table import Table

from otel_cost.events import TokenCategory
from otel_cost.reports.report import Report

CENT = Decimal("0.01")
# Columns of the terminal table: heading and the categories summed into it.
TABLE_TOKENS = {
    "input": ("input", "image_input", "audio_input"),
    "cache read": ("cache_read",),
    "cache write": ("cache_write_5m", "cache_write_1h"),
    "output": ("output", "image_output", "audio_output"),
    "reasoning": ("reasoning",),
}


def compact(count: int) -> str:
    """Format a token count briefly: 950, 12.3k, 4.56M."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"


def _column(tokens: dict[str, int], categories: tuple[str, ...]) -> str:
    return compact(sum(tokens.get(name, 0) for name in categories))


def dollars(amount: Decimal) -> str:
    """Format an amount in dollars, rounded half up to the cent."""
    return f"${amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def render_table(report: Report, console: Console, title: str | None = None) -> None:
    """Print the report as a table, with a plain note about unpriced usage."""
    table = Table(title=title or f"Cost by {report.group_by} ({report.timezone})")
    table.add_column(report.group_by, overflow="fold", min_width=12, ratio=3)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("events", justify="right", no_wrap=True)
    headings = [
        heading
        for heading, names in TABLE_TOKENS.items()
        if any(row.tokens.get(name) for row in report.rows for name in names)
    ]
    for heading in headings:
        table.add_column(heading, justify="right", no_wrap=True)
    if report.unpriced_events:
        table.add_column("unpriced", justify="right", no_wrap=True)
    for row in report.rows:
        cells = [row.key or "(none)", dollars(row.cost_usd), f"{row.events:,}"]
        cells.extend(_column(row.tokens, TABLE_TOKENS[heading]) for heading in headings)
        if report.unpriced_events:
            cells.append(f"{row.unpriced_events:,}")
        table.add_row(*cells)
    table.add_section()
    totals = ["total", dollars(report.total_usd), f"{report.events:,}"]
    totals.extend("" for _ in headings)
    if report.unpriced_events:
        totals.append(f"{report.unpriced_events:,}")
    table.add_row(*totals)
    console.print(table)
    if report.unpriced_events:
        console.print(
            f"[yellow]{report.unpriced_events} events are unpriced: their tokens are "
            "counted, but their cost is unknown and not included in the total (it is "
            "not $0). Add a rate card with `otel-cost pricing add`.[/yellow]"
        )
    if report.estimated_events:
        console.print(
            f"{report.estimated_events} events have estimated usage; their cost is an estimate."
        )


def render_csv(report: Report) -> str:
    """Return the report as CSV with exact (unrounded) decimal costs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    categories = [category.value for category in TokenCategory]
    writer.writerow(
        [report.group_by, "cost_usd", "events", "unpriced_events", "estimated_events",
         *(f"{name}_tokens" for name in categories)]
    )  # fmt: skip
    for row in report.rows:
        writer.writerow(
            [row.key, format(row.cost_usd, "f"), row.events, row.unpriced_events,
             row.estimated_events, *(row.tokens.get(name, 0) for name in categories)]
        )  # fmt: skip
    return buffer.getvalue()
