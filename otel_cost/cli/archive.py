"""``otel-cost archive``: old ``cost_events`` months to Parquet files and back."""

from __future__ import annotations

from pathlib import Path

import click

from otel_cost.cli.common import db_option
from otel_cost.decimals import decimal_text
from otel_cost.store import open_store
from otel_cost.store.archive import (
    ArchivedPartition,
    Outcome,
    export_partitions,
    parse_age,
    restore_partitions,
)

_directory = click.Path(file_okay=False, path_type=Path)


@click.group("archive")
def archive_group() -> None:
    """Export old months of events to Parquet files, or restore them."""


@archive_group.command("export")
@db_option
@click.option(
    "--older-than",
    required=True,
    metavar="DAYS",
    help="Export the months that ended more than this many days ago, e.g. 365d.",
)
@click.option(
    "--to", "directory", required=True, type=_directory, help="Directory for the files."
)
@click.option(
    "--drop",
    is_flag=True,
    help=(
        "Drop each month from cost_events once its file is written and its row "
        "count checked. The rollup keeps the month's totals."
    ),
)
def export_command(
    dsn: str | None, older_than: str, directory: Path, drop: bool
) -> None:
    """Write each month of cost_events older than --older-than to a Parquet file."""
    age = parse_age(older_than)
    store = open_store(dsn)
    try:
        exported = export_partitions(store, directory, age, drop)
    finally:
        store.close()
    if not exported:
        click.echo(f"no month of events ended more than {age.days} days ago")
    for archived in exported:
        if archived.outcome is Outcome.ALREADY_ARCHIVED:
            click.echo(
                f"skipped {_month(archived)}: archived already to {archived.path}; "
                f"left its {_count(archived.late_events, 'late event')} in cost_events, "
                "restore the month, then export it again"
            )
        else:
            click.echo(f"{archived.outcome} {_describe(archived)}")


@archive_group.command("restore")
@db_option
@click.argument("directory", type=_directory)
def restore_command(dsn: str | None, directory: Path) -> None:
    """Insert the files that archive export wrote to DIRECTORY into cost_events."""
    store = open_store(dsn)
    try:
        restored = restore_partitions(store, directory)
    finally:
        store.close()
    for archived in restored:
        if archived.outcome is Outcome.ALREADY_STORED:
            click.echo(
                f"skipped {_month(archived)}: all {_count(archived.events, 'event')} of "
                f"{archived.path} are already stored"
            )
            continue
        line = f"restored {_describe(archived)}"
        if archived.inserted != archived.events:
            line += f"; inserted {archived.inserted}, the others were already stored"
        if archived.late_events:
            line += f"; kept {_count(archived.late_events, 'late event')}"
        click.echo(line)


def _describe(archived: ArchivedPartition) -> str:
    return (
        f"{_month(archived)}: {_count(archived.events, 'event')}, "
        f"${decimal_text(archived.cost_usd)} ({archived.path})"
    )


def _month(archived: ArchivedPartition) -> str:
    return f"{archived.partition[:4]}-{archived.partition[4:]}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
