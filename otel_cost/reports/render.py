"""Rendering reports as a terminal table or CSV. Money is rounded here, once."""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal

from rich.console import Console
from rich.table import Table

from otel_cost.decimals import decimal_text
from otel_cost.events import TokenCategory
from otel_cost.reports.report import Report

CENT = Decimal("0.01")
SMALL = Decimal("0.000001")
# Columns of the terminal table: heading and the categories summed into it.
TABLE_TOKENS = {
    "input": ("input", "image_input", "audio_input"),
    "cache rd": ("cache_read",),
    "cache wr": ("cache_write_5m", "cache_write_1h"),
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
    """Format dollars: to the cent, or to the micro-dollar for amounts below 1 cent."""
    if amount != 0 and abs(amount) < CENT:
        small = amount.quantize(SMALL, rounding=ROUND_HALF_UP)
        return f"${format(small, 'f').rstrip('0')}"
    return f"${amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def row_cost(cost_usd: Decimal, events: int, unpriced_events: int) -> str:
    """Format a group's cost; a group with no priced event shows "unpriced", not $0."""
    if events and unpriced_events == events:
        return "unpriced"
    text = dollars(cost_usd)
    return f"{text}*" if unpriced_events else text


def plural(count: int, noun: str) -> str:
    """Return ``"1 event"`` or ``"3 events"``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


# Estimated widths (cell and padding) of the fixed columns and each token
# column, used to drop token columns that would not fit the terminal.
KEY_WIDTH = 18
FIXED_WIDTH = 12 + 9
UNPRICED_WIDTH = 11


def _token_headings(report: Report, width: int) -> tuple[list[str], bool]:
    """Return the token columns that fit ``width``, and whether any used one was cut."""
    used = [
        heading
        for heading, names in TABLE_TOKENS.items()
        if any(row.tokens.get(name) for row in report.rows for name in names)
    ]
    room = width - KEY_WIDTH - FIXED_WIDTH
    room -= UNPRICED_WIDTH if report.unpriced_events else 0
    # Keep the table order but drop the least telling columns first.
    priority = ["input", "output", "cache rd", "cache wr", "reasoning"]
    kept: set[str] = set()
    for heading in sorted(used, key=priority.index):
        needed = max(len(heading), 7) + 3
        if needed > room:
            break
        kept.add(heading)
        room -= needed
    return [heading for heading in used if heading in kept], len(kept) < len(used)


def render_table(report: Report, console: Console, title: str | None = None) -> None:
    """Print the report as a table that fits the terminal, with notes on unpriced usage."""
    table = Table(title=title or f"Cost by {report.group_by} ({report.timezone})")
    table.add_column(report.group_by, overflow="fold", min_width=KEY_WIDTH - 4)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("events", justify="right", no_wrap=True)
    headings, cut = _token_headings(report, console.width)
    for heading in headings:
        table.add_column(heading, justify="right", no_wrap=True)
    if report.unpriced_events:
        table.add_column("unpriced", justify="right", no_wrap=True)
    for row in report.rows:
        cells = [
            row.key or "(none)",
            row_cost(row.cost_usd, row.events, row.unpriced_events),
            f"{row.events:,}",
        ]
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
            f"[yellow]Unpriced: {plural(report.unpriced_events, 'event')}. Tokens "
            "are counted, but the cost is unknown and left out of the total (it is "
            "not $0; * marks groups with some). Add a rate card with "
            "`otel-cost pricing add`.[/yellow]"
        )
    if report.estimated_events:
        console.print(
            f"{plural(report.estimated_events, 'event')} with estimated usage; "
            "their cost is an estimate."
        )
    if cut:
        console.print(
            "Some token columns do not fit this width; --format json has all."
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
        cost = (
            ""
            if row.events and row.unpriced_events == row.events
            else decimal_text(row.cost_usd)
        )
        writer.writerow(
            [row.key, cost, row.events, row.unpriced_events,
             row.estimated_events, *(row.tokens.get(name, 0) for name in categories)]
        )  # fmt: skip
    return buffer.getvalue()
