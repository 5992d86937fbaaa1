"""``otel-cost menubar``: status output for SwiftBar, xbar and Argos."""

from __future__ import annotations

import sys

import click

from otel_cost.cli.common import api_url_option, db_option
from otel_cost.views.menubar import FORMATS, render, top_command
from otel_cost.views.source import open_source, utc_now


@click.command("menubar")
@db_option
@api_url_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="swiftbar",
    show_default=True,
    help="Plugin format: swiftbar (also xbar) or argos (GNOME Shell).",
)
def menubar_command(dsn: str | None, api_url: str | None, output_format: str) -> None:
    """Print today's spend and the worst budget state as a menubar plugin.

    Save a one-line script that runs this command as a SwiftBar or xbar
    plugin (for example otel-cost.30s.sh) or as an Argos script.
    """
    source = open_source(dsn, api_url)
    try:
        status = source.day_status(utc_now())
    finally:
        source.close()
    sys.stdout.write(render(status, output_format, top_command()))
