"""``otel-cost report``: cost grouped by day, session, project, model, harness or provider."""

from __future__ import annotations

from datetime import date

import click
from rich.console import Console

from otel_cost.cli.common import db_option, print_json
from otel_cost.errors import ConfigError
from otel_cost.reports.render import render_csv, render_table
from otel_cost.reports.report import (
    GROUPINGS,
    Report,
    build_report,
    day_bounds,
    report_from_json,
)
from otel_cost.reports.timezones import local_timezone, validate_timezone
from otel_cost.serve.client import ServiceClient
from otel_cost.serve.discovery import service_for_store
from otel_cost.store import open_store


def _parse_day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date such as 2026-11-30", param_hint=name
        ) from None


@click.command("report")
@db_option
@click.option(
    "--by",
    "group_by",
    type=click.Choice(list(GROUPINGS)),
    default="day",
    show_default=True,
    help="Grouping of the rows.",
)
@click.option("--since", default=None, metavar="YYYY-MM-DD", help="First day included.")
@click.option("--until", default=None, metavar="YYYY-MM-DD", help="Last day included.")
@click.option(
    "--tz",
    default=None,
    metavar="IANA",
    help="Time zone of days and date bounds (default: this machine's).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format.",
)
def report_command(
    dsn: str | None,
    group_by: str,
    since: str | None,
    until: str | None,
    tz: str | None,
    output_format: str,
) -> None:
    """Print stored cost grouped by day, session, project, model, harness or provider."""
    try:
        zone = validate_timezone(tz) if tz else local_timezone()
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None
    first, last = _parse_day(since, "--since"), _parse_day(until, "--until")
    if first and last and first > last:
        raise click.BadParameter(f"--since {since} is after --until {until}")
    service = service_for_store(dsn)
    if service is not None:
        # The service has the embedded store open, so it builds the report.
        params = {"group_by": group_by, "tz": zone, "since": since, "until": until}
        document = ServiceClient(service["api_url"]).get("/api/v1/report", params)
        report = report_from_json(document)
    else:
        start, end = day_bounds(first, last, zone)
        store = open_store(dsn)
        try:
            report = build_report(store, group_by, zone, start, end)
        finally:
            store.close()
    emit_report(report, output_format)


def emit_report(report: Report, output_format: str, title: str | None = None) -> None:
    """Write a report in the chosen format to stdout."""
    if output_format == "json":
        print_json(report.as_dict())
    elif output_format == "csv":
        click.echo(render_csv(report), nl=False)
    else:
        render_table(report, Console(), title)
