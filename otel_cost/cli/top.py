"""``otel-cost top``: the live terminal dashboard."""

from __future__ import annotations

import sys

import click

from otel_cost.cli.common import api_url_option, db_option
from otel_cost.views.model import DEFAULT_REFRESH_SECONDS, GROUPINGS, PERIODS, Query
from otel_cost.views.source import open_source

#: The dashboard promises to show new events within this many seconds.
MAX_REFRESH_SECONDS = 5.0


@click.command("top")
@db_option
@api_url_option
@click.option(
    "--period",
    type=click.Choice(list(PERIODS)),
    default="24h",
    show_default=True,
    help="Look-back period of the mix and top-event panels (key p cycles it).",
)
@click.option("--project", default=None, help="Show one project only (key j cycles).")
@click.option(
    "--group-by",
    "grouping",
    type=click.Choice(list(GROUPINGS)),
    default="provider",
    show_default=True,
    help="Dimension of the spend mix (key g cycles it).",
)
@click.option(
    "--top",
    "top_n",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="Number of expensive events listed.",
)
@click.option(
    "--refresh",
    "refresh_seconds",
    type=click.FloatRange(0.2, MAX_REFRESH_SECONDS),
    default=DEFAULT_REFRESH_SECONDS,
    show_default=True,
    help="Seconds between reloads.",
)
def top_command(
    dsn: str | None,
    api_url: str | None,
    period: str,
    project: str | None,
    grouping: str,
    top_n: int,
    refresh_seconds: float,
) -> None:
    """Show live spend: session burn, rolling totals, budgets, mix and top events."""
    if not sys.stdout.isatty():
        raise click.UsageError(
            "otel-cost top needs a terminal; for scripts use `otel-cost report "
            "--format json` or `otel-cost menubar`"
        )
    # Textual takes a moment to import, so only this command pays for it.
    from otel_cost.views.top_app import TopApp

    query = Query(period=period, project=project, grouping=grouping, top_n=top_n)
    source = open_source(dsn, api_url)
    try:
        TopApp(source, query, refresh_seconds).run()
    finally:
        source.close()
