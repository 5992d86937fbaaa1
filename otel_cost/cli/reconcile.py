"""``otel-cost reconcile``: repair rollups that two writers double counted."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal

import click

from otel_cost.cli.common import db_option, parse_instant, print_json
from otel_cost.decimals import decimal_text
from otel_cost.errors import ConfigError
from otel_cost.store import open_store
from otel_cost.store.reconcile import (
    DEFAULT_DAYS,
    DEFAULT_PAUSE,
    DEFAULT_SETTLE,
    ReconcileReport,
    TableReport,
    Window,
    reconcile,
    window_for,
)


@click.command("reconcile")
@db_option
@click.option(
    "--since",
    default=None,
    metavar="TIME",
    help="Start of the range, ISO 8601 (a date means its midnight UTC).",
)
@click.option(
    "--until",
    default=None,
    metavar="TIME",
    help="End of the range, excluded, ISO 8601. Default: no end.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help=f"Reconcile the last N days (default {DEFAULT_DAYS}).",
)
@click.option("--all", "everything", is_flag=True, help="Reconcile all stored data.")
@click.option(
    "--settle-seconds",
    type=click.IntRange(min=0),
    default=int(DEFAULT_SETTLE.total_seconds()),
    show_default=True,
    help="Leave alone 15-minute buckets with events ingested this recently.",
)
@click.option(
    "--pause-seconds",
    type=click.FloatRange(min=0),
    default=DEFAULT_PAUSE.total_seconds(),
    show_default=True,
    help="Pause between the two passes that must agree on a difference.",
)
@click.option("--dry-run", is_flag=True, help="Report the corrections; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reconcile_command(
    dsn: str | None,
    since: str | None,
    until: str | None,
    days: int | None,
    everything: bool,
    settle_seconds: int,
    pause_seconds: float,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Make cost_rollup_15m and cost_sessions match cost_events FINAL.

    Exits 0 when the rollups were consistent or are corrected now, and 1 when
    a session group has time bounds that only a rebuild can repair.
    """
    window = _window(since, until, days, everything)
    store = open_store(dsn)
    try:
        report = reconcile(
            store,
            window,
            dry_run=dry_run,
            settle=timedelta(seconds=settle_seconds),
            pause=timedelta(seconds=pause_seconds),
        )
    finally:
        store.close()
    if as_json:
        print_json(_payload(report))
    else:
        _print_text(report)
    if report.bounds_unfixable:
        click.echo(
            f"error: {report.bounds_unfixable} session group(s) in cost_sessions have "
            "first_ts or last_ts beyond their events; a correction row cannot "
            "repair that, rebuild the month from cost_events FINAL",
            err=True,
        )
        sys.exit(1)


def _window(
    since: str | None, until: str | None, days: int | None, everything: bool
) -> Window:
    if everything and (since or until or days):
        raise click.UsageError(
            "--all cannot be combined with --since, --until or --days"
        )
    start = parse_instant(since, "--since") if since else None
    end = parse_instant(until, "--until") if until else None
    try:
        return window_for(start, end, 0 if everything else days)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _payload(report: ReconcileReport) -> dict[str, object]:
    return {
        "start": report.start,
        "end": report.end,
        "dry_run": report.dry_run,
        "groups_corrected": report.corrected,
        "tables": [asdict(table) for table in report.tables],
    }


def _print_text(report: ReconcileReport) -> None:
    start = _time_text(report.start, "the earliest row")
    end = _time_text(report.end, "the latest row")
    click.echo(f"range {start} to {end}")
    for table in report.tables:
        click.echo(_table_line(table, report.dry_run))
    corrected = _count(report.corrected, "group")
    if report.corrected and report.dry_run:
        click.echo(f"dry run: {corrected} would be corrected")
    elif report.corrected:
        click.echo(f"corrected {corrected}")
    elif report.deferred:
        click.echo(
            f"nothing corrected; {_count(report.deferred, 'group')} left for a later run"
        )
    elif any(table.groups_archived for table in report.tables):
        click.echo("rollups match cost_events FINAL outside the archived months")
    else:
        click.echo("rollups match cost_events FINAL")


def _table_line(table: TableReport, dry_run: bool) -> str:
    verb = "to correct" if dry_run else "corrected"
    line = (
        f"{table.table}: {_count(table.groups_checked, 'group')} checked, "
        f"{table.groups_corrected} {verb} (events {table.events_delta:+d}, "
        f"cost {_signed_usd(table.cost_usd_delta)}, tokens {table.tokens_delta:+d})"
    )
    if table.groups_unsettled or table.groups_changing:
        line += (
            f"; left for a later run: {table.groups_unsettled} with recent writes, "
            f"{table.groups_changing} changing between passes"
        )
    if table.groups_archived:
        months = [
            *table.archived_months,
            *(
                f"{month} (no events, archived?)"
                for month in table.months_without_events
            ),
        ]
        groups = _count(table.groups_archived, "group")
        line += f"; left alone {groups} in archived months: {', '.join(months)}"
    return line


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _signed_usd(amount: Decimal) -> str:
    sign = "-" if amount < 0 else "+"
    return f"{sign}${decimal_text(abs(amount))}"


def _time_text(moment: datetime | None, default: str) -> str:
    return moment.isoformat() if moment is not None else default
