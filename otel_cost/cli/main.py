"""Entry point of the ``otel-cost`` command."""

from __future__ import annotations

import logging
import os
import sys

import click

from otel_cost import __version__
from otel_cost.cli.archive import archive_group
from otel_cost.cli.budget import budget_group
from otel_cost.cli.doctor import doctor_command
from otel_cost.cli.hook import hook_group
from otel_cost.cli.import_ import import_command
from otel_cost.cli.instrument import instrument_command
from otel_cost.cli.menubar import menubar_command
from otel_cost.cli.price import price_command
from otel_cost.cli.pricing import pricing_group
from otel_cost.cli.quickstart import quickstart_command
from otel_cost.cli.report import report_command
from otel_cost.cli.serve import serve_command
from otel_cost.cli.top import top_command
from otel_cost.errors import OtelCostError


class ErrorHandlingGroup(click.Group):
    """A group that prints expected errors as one line and exits 1."""

    def invoke(self, ctx: click.Context) -> object:
        """Run the command, turning `OtelCostError` into a clean exit."""
        try:
            return super().invoke(ctx)
        except OtelCostError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=ErrorHandlingGroup)
@click.version_option(__version__, prog_name="otel-cost")
@click.option("-v", "--verbose", count=True, help="Log more (repeat for debug).")
def cli(verbose: int) -> None:
    """Cost observability and budgets for AI coding agents."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


cli.add_command(price_command)
cli.add_command(doctor_command)
cli.add_command(pricing_group)
cli.add_command(import_command)
cli.add_command(report_command)
cli.add_command(quickstart_command)
cli.add_command(top_command)
cli.add_command(menubar_command)
cli.add_command(budget_group)
cli.add_command(hook_group)
# `hooks` is the same group under the plural name some users type.
cli.add_command(hook_group, name="hooks")
cli.add_command(instrument_command)
cli.add_command(serve_command)
cli.add_command(archive_group)


def main() -> None:
    """Run the command line."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    cli()
