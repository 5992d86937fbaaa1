"""``otel-cost quickstart``: import this machine's agent history and report it.

Where no agent history exists, the bundled example sessions are imported into
a separate database, so they never mix with real data, and the report is
labelled as example data.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click
from rich.console import Console

from otel_cost.capture.importers import get_importer, importer_names
from otel_cost.capture.importers.runner import ImportSummary
from otel_cost.cli.common import db_option, pricing_option
from otel_cost.cli.import_ import print_summaries, run_imports
from otel_cost.cli.report import emit_report
from otel_cost.pricing.registry import PricingRegistry, load_registry
from otel_cost.reports.report import build_report
from otel_cost.reports.timezones import local_timezone
from otel_cost.store import Store, open_store

EXAMPLES_DATABASE = "otel_cost_examples"
# Example directories, laid out like each agent's home, under otel_cost/examples.
EXAMPLE_DIRS = {"claude-code": "claude-code", "codex": "codex", "gemini": "gemini"}


def agents_with_history() -> list[str]:
    """Return the importers that find at least one session file on this machine."""
    found = []
    for name in importer_names():
        importer = get_importer(name)
        for root in importer.default_roots():
            if root.exists() and next(iter(importer.discover(root)), None) is not None:
                found.append(name)
                break
    return found


@click.command("quickstart")
@db_option
@pricing_option
@click.option(
    "--examples",
    "force_examples",
    is_flag=True,
    help="Import the bundled example sessions even if real history exists.",
)
def quickstart_command(
    dsn: str | None, pricing_files: tuple[str, ...], force_examples: bool
) -> None:
    """Import every agent's history on this machine (or bundled examples) and report it."""
    console = Console()
    registry = load_registry(pricing_files)
    agents = [] if force_examples else agents_with_history()
    if agents:
        store = open_store(dsn)
        console.print(f"Importing history of: {', '.join(agents)}")
        summaries = run_imports(store, registry, agents, [])
        label = "Your agents"
    else:
        store = open_store(dsn, database=EXAMPLES_DATABASE)
        console.print(
            "[bold yellow]No agent history found on this machine "
            f"(looked in {', '.join(_default_places())}).[/bold yellow]\n"
            "[bold yellow]Importing the bundled EXAMPLE sessions instead; they are "
            f"made-up sample data, kept apart in the database {EXAMPLES_DATABASE!r}."
            "[/bold yellow]"
        )
        summaries = _import_examples(store, registry)
        label = "EXAMPLE DATA"
    print_summaries(summaries)
    zone = local_timezone()
    try:
        for group_by in ("day", "model", "harness"):
            report = build_report(store, group_by, zone)
            emit_report(report, "table", f"{label}: cost by {group_by} ({zone})")
    finally:
        store.close()
    if label == "EXAMPLE DATA":
        console.print(
            f"Store: {store.dsn} (database {store.database}). To look at the examples "
            f"again: OTEL_COST_CLICKHOUSE_DATABASE={EXAMPLES_DATABASE} otel-cost report "
            "--by session. Your own agents' history goes to the default database: "
            "`otel-cost import all`, then `otel-cost report`."
        )
    else:
        console.print(
            f"Store: {store.dsn} (database {store.database}). Next: "
            "`otel-cost report --by project`, and `otel-cost import all` after new "
            "sessions (only new bytes are read)."
        )


def _import_examples(store: Store, registry: PricingRegistry) -> list[ImportSummary]:
    summaries: list[ImportSummary] = []
    base = resources.files("otel_cost") / "examples"
    with resources.as_file(base) as examples:
        for name, directory in EXAMPLE_DIRS.items():
            root = Path(examples) / directory
            if root.exists() and name in importer_names():
                summaries.extend(run_imports(store, registry, [name], [root]))
    return summaries


def _default_places() -> list[str]:
    places: list[str] = []
    for name in importer_names():
        places.extend(str(root) for root in get_importer(name).default_roots())
    return places[:6] + (["..."] if len(places) > 6 else [])
