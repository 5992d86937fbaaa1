"""Entry point of the ``otel-cost`` command."""

from __future__ import annotations

import logging
import os
import sys
from importlib import import_module

import click

from otel_cost import __version__
from otel_cost.errors import OtelCostError

# Command name -> "module:attribute". Modules load only when their command
# runs (or for --help), so a short command does not pay for serve or top.
COMMANDS = {
    "archive": "otel_cost.cli.archive:archive_group",
    "budget": "otel_cost.cli.budget:budget_group",
    "doctor": "otel_cost.cli.doctor:doctor_command",
    "hook": "otel_cost.cli.hook:hook_group",
    # The same group under the plural name some users type.
    "hooks": "otel_cost.cli.hook:hook_group",
    "import": "otel_cost.cli.import_:import_command",
    "instrument": "otel_cost.cli.instrument:instrument_command",
    "menubar": "otel_cost.cli.menubar:menubar_command",
    "price": "otel_cost.cli.price:price_command",
    "pricing": "otel_cost.cli.pricing:pricing_group",
    "quickstart": "otel_cost.cli.quickstart:quickstart_command",
    "reconcile": "otel_cost.cli.reconcile:reconcile_command",
    "report": "otel_cost.cli.report:report_command",
    "serve": "otel_cost.cli.serve:serve_command",
    "top": "otel_cost.cli.top:top_command",
}


#: Loggers of the ClickHouse HTTP client, quiet unless -v is given.
STORE_CLIENT_LOGGERS = ("urllib3.connectionpool", "clickhouse_connect.driver")

#: Aliases that work but stay out of ``--help``, so each command is listed once.
HIDDEN_ALIASES = frozenset({"hooks"})


class ErrorHandlingGroup(click.Group):
    """A group that loads its commands lazily and prints expected errors as one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return every command name except the hidden aliases, sorted."""
        return sorted(set(COMMANDS) - HIDDEN_ALIASES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return the command named ``cmd_name``."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command: click.Command = getattr(import_module(module_name), attribute)
        return command

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
    if not verbose:
        # The store's HTTP client logs a warning for each failed connection
        # attempt before it raises. The raised error is printed as one line.
        for name in STORE_CLIENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


def main() -> None:
    """Run the command line."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    cli()
