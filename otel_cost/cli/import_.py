"""``otel-cost import``: read agent session files into the store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from otel_cost.capture.importers import get_importer, importer_names
from otel_cost.capture.importers.runner import ImportRun, ImportSummary
from otel_cost.cli.common import db_option, pricing_option, print_json
from otel_cost.decimals import decimal_text
from otel_cost.errors import ConfigError
from otel_cost.pricing.registry import PricingRegistry, load_registry
from otel_cost.reports.render import dollars, plural
from otel_cost.store import Store, open_store


@click.command("import")
@click.argument("agent", type=click.Choice(["all", *importer_names()]))
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Read this directory instead of the agent's default location (repeatable).",
)
@db_option
@pricing_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def import_command(
    agent: str,
    paths: tuple[Path, ...],
    dsn: str | None,
    pricing_files: tuple[str, ...],
    as_json: bool,
) -> None:
    """Import the session files an agent keeps on disk, pricing every request."""
    if agent == "all" and paths:
        raise click.UsageError("--path needs one agent, not 'all'")
    for path in paths:
        if not path.exists():
            raise ConfigError(
                f"--path {str(path)!r} not found; pass a directory that exists"
            )
    names = importer_names() if agent == "all" else [agent]
    registry = load_registry(pricing_files)
    store = open_store(dsn)
    try:
        summaries = run_imports(store, registry, names, list(paths))
    finally:
        store.close()
    if as_json:
        print_json(summary_payload(summaries))
    else:
        print_summaries(summaries)


def run_imports(
    store: Store, registry: PricingRegistry, names: list[str], paths: list[Path]
) -> list[ImportSummary]:
    """Run each named importer and return their summaries."""
    return [
        ImportRun(store, registry, get_importer(name)).run(paths or None)
        for name in names
    ]


def summary_payload(summaries: list[ImportSummary]) -> dict[str, Any]:
    """Return the JSON summary of several importer runs with totals."""
    total_keys = (
        "files", "files_read", "events", "inserted", "replaced", "duplicates",
        "bad_lines", "unpriced_events",
    )  # fmt: skip
    totals: dict[str, Any] = {key: 0 for key in total_keys}
    for summary in summaries:
        for key in total_keys:
            totals[key] += getattr(summary, key)
    totals["duplicates_skipped"] = totals.pop("duplicates")
    totals["bad_lines_skipped"] = totals.pop("bad_lines")
    totals["cost_usd"] = decimal_text(sum((s.cost_usd for s in summaries), Decimal(0)))
    return {
        "importers": [
            {**summary.as_dict(), "cost_usd": decimal_text(summary.cost_usd)}
            for summary in summaries
        ],
        "total": totals,
    }


def print_summaries(summaries: list[ImportSummary]) -> None:
    """Print one line per importer."""
    for summary in summaries:
        if summary.files == 0:
            click.echo(
                f"{summary.importer:<12} no files found in {', '.join(summary.roots)}"
            )
            for message in summary.errors[:5]:
                click.echo(f"  warning: {message}", err=True)
            continue
        parts = [
            f"{plural(summary.files, 'file')} ({summary.files_read} read)",
            f"{plural(summary.inserted, 'new event')}",
            f"{summary.replaced} updated",
            f"{plural(summary.duplicates, 'duplicate')} skipped",
            f"{plural(summary.bad_lines, 'bad record')}",
            f"{dollars(summary.cost_usd)} added",
        ]
        if summary.unpriced_events:
            parts.append(f"{summary.unpriced_events} unpriced")
        click.echo(f"{summary.importer:<12} " + ", ".join(parts))
        for message in summary.errors[:5]:
            click.echo(f"  warning: {message}", err=True)
        if len(summary.errors) > 5:
            more = plural(len(summary.errors) - 5, "more warning")
            click.echo(f"  ... and {more}", err=True)
