"""``otel-cost doctor``: which agents' history is found, and how its import went.

For every registered importer it reports where it looked, which environment
variable chose the place, and how many files and sessions it found there. From
the store it adds the events, sessions, last import time and skipped records,
and then what to do about anything that looks wrong. When the store cannot be
opened, the report gives the reason and still lists the files on disk.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from clickhouse_connect.driver.exceptions import ClickHouseError

from otel_cost import config
from otel_cost.capture.importers import get_importer, importer_names
from otel_cost.capture.importers.base import Importer
from otel_cost.cli.common import db_option, print_json
from otel_cost.errors import OtelCostError
from otel_cost.store import open_store
from otel_cost.store.connection import EMBEDDED_SCHEME, embedded_path

logger = logging.getLogger(__name__)

# Overrides of importers that do not list them in an ``env_vars`` attribute,
# by the name of their constant in otel_cost.config.
KNOWN_ENV_VARS: dict[str, tuple[str, ...]] = {
    "claude-code": ("ENV_CLAUDE_CONFIG_DIR",),
    "codex": ("ENV_CODEX_HOME",),
    "gemini": ("ENV_OTEL_COST_GEMINI_DIR", "ENV_GEMINI_DIR"),
    "opencode": ("ENV_OTEL_COST_OPENCODE_DIR", "ENV_XDG_DATA_HOME"),
    "roo-code": ("ENV_OTEL_COST_ROO_CODE_DIR", "ENV_XDG_CONFIG_HOME"),
    "kilo-code": ("ENV_OTEL_COST_KILO_CODE_DIR", "ENV_XDG_CONFIG_HOME"),
    "cline": (
        "ENV_OTEL_COST_CLINE_DIR",
        "ENV_CLINE_SESSION_DATA_DIR",
        "ENV_CLINE_DATA_DIR",
        "ENV_CLINE_DIR",
        "ENV_XDG_CONFIG_HOME",
    ),
    "qwen-code": ("ENV_QWEN_RUNTIME_DIR", "ENV_QWEN_HOME"),
    "goose": ("ENV_GOOSE_PATH_ROOT",),
}
# Errors a store can raise while it is opened or queried.
STORE_ERRORS = (OtelCostError, ClickHouseError, OSError, RuntimeError)
# Errors an agent's files can raise while they are listed or counted.
DISK_ERRORS = (OSError, sqlite3.Error)


@dataclass
class StoreReport:
    """The store's status and the per-importer counts read from it."""

    dsn: str
    database: str
    status: str = "ok"
    message: str = ""
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        """True when the counts come from an open store."""
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form, without the per-importer counts."""
        return {
            "dsn": self.dsn,
            "database": self.database,
            "status": self.status,
            "message": self.message,
        }


@click.command("doctor")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor_command(dsn: str | None, as_json: bool) -> None:
    """Check where each agent's history is, and how its import went."""
    store = read_store(dsn)
    payload = {
        "store": store.as_dict(),
        "importers": [importer_report(name, store) for name in importer_names()],
    }
    if as_json:
        print_json(payload)
    else:
        print_report(payload)


# The store


def read_store(dsn: str | None) -> StoreReport:
    """Read import progress and event counts, turning store errors into a status."""
    dsn = dsn or config.default_dsn()
    report = StoreReport(dsn=dsn, database=config.clickhouse_database())
    if dsn.startswith(EMBEDDED_SCHEME):
        try:
            path = embedded_path(dsn)
        except OtelCostError as exc:
            return _store_failed(report, "invalid", str(exc))
        if not path.exists():
            # Opening it would create an empty store, so report that none exists.
            report.status = "missing"
            report.message = (
                f"no store at {path} yet; `otel-cost import all` creates it"
            )
            return report
    try:
        store = open_store(dsn, migrate=False)
    except STORE_ERRORS as exc:
        return _store_failed(report, "unavailable", str(exc))
    try:
        report.progress = _group(store.query_dicts(PROGRESS_SQL), "importer")
        report.events = _group(store.query_dicts(EVENTS_SQL), "harness")
    except STORE_ERRORS as exc:
        return _store_failed(report, "unreadable", str(exc))
    finally:
        store.close()
    return report


PROGRESS_SQL = """
SELECT importer, count() AS files, sum(events) AS events, sum(bad_lines) AS bad_lines,
       max(updated_at) AS last_import
FROM import_progress FINAL
GROUP BY importer
"""
EVENTS_SQL = """
SELECT harness, uniqExact(event_id) AS events, uniqExact(session_id) AS sessions,
       uniqExactIf(event_id, cost_status = 'unpriced') AS unpriced,
       uniqExactIf(event_id, cost_status = 'estimated') AS estimated,
       max(ts) AS last_event
FROM cost_events
GROUP BY harness
"""


def _store_failed(report: StoreReport, status: str, message: str) -> StoreReport:
    logger.warning("doctor: store %s is %s: %s", report.dsn, status, message)
    report.status = status
    report.message = message
    return report


def _group(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {str(row.pop(key)): row for row in rows}


# One importer


def importer_report(name: str, store: StoreReport) -> dict[str, Any]:
    """Return what is on disk and in the store for one importer, with advice."""
    report: dict[str, Any] = {"importer": name}
    try:
        importer = get_importer(name)
    except (ImportError, AttributeError) as exc:
        report["status"] = "unavailable"
        report["advice"] = [
            f"the importer cannot be loaded ({exc}); reinstall otel-cost"
        ]
        return report
    report["overrides"] = _overrides(importer)
    report.update(_disk(importer))
    report["store"] = _store_counts(name, store) if store.available else None
    report["status"], report["advice"] = _diagnose(name, importer, report, store)
    return report


def _overrides(importer: Importer) -> list[dict[str, Any]]:
    declared = getattr(importer, "env_vars", None)
    if declared is None:
        attributes = KNOWN_ENV_VARS.get(importer.name, ())
        declared = tuple(
            getattr(config, attr) for attr in attributes if hasattr(config, attr)
        )
    return [
        {"name": variable, "value": os.environ.get(variable) or None}
        for variable in declared
    ]


def _disk(importer: Importer) -> dict[str, Any]:
    roots: list[dict[str, Any]] = []
    files: list[Path] = []
    problems: list[str] = []
    for root in importer.default_roots():
        exists = root.is_dir()
        roots.append({"path": str(root), "exists": exists})
        if not exists:
            continue
        try:
            files.extend(importer.discover(root))
        except DISK_ERRORS as exc:
            problems.append(f"cannot list {root}: {exc}")
    per_file = [_sessions_in(importer, path, problems) for path in files]
    known = [count for count in per_file if count is not None]
    return {
        "roots": roots,
        "files": len(files),
        "bytes": sum(_size(path) for path in files),
        # None when a file could not be counted, so a partial sum is not shown.
        "sessions": sum(known) if len(known) == len(per_file) else None,
        "problems": problems,
    }


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _sessions_in(importer: Importer, path: Path, problems: list[str]) -> int | None:
    counter = getattr(importer, "count_sessions", None)
    if counter is None:
        # A JSON or JSON-lines file is one session. Anything else (a database)
        # is unknown unless the importer can count its sessions.
        return 1 if path.suffix in (".json", ".jsonl") else None
    try:
        found: int | None = counter(path)
    except DISK_ERRORS as exc:
        problems.append(f"cannot read {path}: {exc}")
        return None
    return found


def _store_counts(name: str, store: StoreReport) -> dict[str, Any]:
    progress = store.progress.get(name, {})
    events = store.events.get(name, {})
    return {
        "files_imported": int(progress.get("files", 0)),
        "events": int(events.get("events", 0)),
        "sessions": int(events.get("sessions", 0)),
        "unpriced_events": int(events.get("unpriced", 0)),
        "estimated_events": int(events.get("estimated", 0)),
        "bad_lines": int(progress.get("bad_lines", 0)),
        "last_import": _utc_text(progress.get("last_import")),
    }


def _utc_text(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    # The store's times are UTC; the driver may return them without a zone.
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.isoformat(timespec="seconds")


def _diagnose(
    name: str, importer: Importer, report: dict[str, Any], store: StoreReport
) -> tuple[str, list[str]]:
    advice = list(report["problems"])
    hint = getattr(importer, "setup_hint", "")
    if report["files"] == 0:
        advice.append(_not_found_advice(name, report["overrides"]))
        if hint:
            advice.append(hint)
        return "not_found", advice
    counts = report["store"]
    if counts is None:
        advice.append(f"import counts unknown because the store is {store.status}")
        return "found", advice
    if counts["files_imported"] == 0:
        advice.append(f"not imported yet: run `otel-cost import {name}`")
        return "not_imported", advice
    if counts["files_imported"] < report["files"]:
        missing = _plural(report["files"] - counts["files_imported"], "file")
        advice.append(f"{missing} not imported yet: run `otel-cost import {name}`")
    if counts["bad_lines"]:
        skipped = _plural(counts["bad_lines"], "record")
        advice.append(
            f"{skipped} skipped as unreadable; "
            f"`otel-cost -v import {name}` names the files. If the count grows, "
            "the agent may have changed its format"
        )
    if counts["unpriced_events"]:
        unpriced = _plural(counts["unpriced_events"], "event")
        advice.append(
            f"{unpriced} without a price, because the rate card lacks their model; "
            "add a card with `otel-cost pricing add`"
        )
    return ("ok" if not advice else "needs_attention"), advice


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _not_found_advice(name: str, overrides: list[dict[str, Any]]) -> str:
    chosen = next((item for item in overrides if item["value"]), None)
    if chosen is not None:
        return (
            f"nothing found where {chosen['name']}={chosen['value']} points; "
            f"fix or unset {chosen['name']}"
        )
    if overrides:
        return (
            f"nothing found; if {name} keeps its data elsewhere, set "
            f"{overrides[0]['name']} to that directory"
        )
    return (
        f"nothing found; pass the directory with `otel-cost import {name} --path DIR`"
    )


# Text output


def print_report(payload: dict[str, Any]) -> None:
    """Print the report as text, one block per importer."""
    store = payload["store"]
    line = (
        f"store        {store['dsn']} (database {store['database']}): {store['status']}"
    )
    click.echo(line + (f": {store['message']}" if store["message"] else ""))
    for report in payload["importers"]:
        click.echo("")
        _print_importer(report)


def _print_importer(report: dict[str, Any]) -> None:
    name = report["importer"]
    status = report["status"]
    if status == "unavailable":
        click.echo(f"{name:<12} unavailable")
    else:
        places = ", ".join(root["path"] for root in report["roots"])
        sessions = report["sessions"]
        found = (
            f"{_plural(report['files'], 'file')}, "
            + (f"{_plural(sessions, 'session')}, " if sessions is not None else "")
            + f"{_size_text(report['bytes'])} in {places}"
            if report["files"]
            else f"nothing found in {places}"
        )
        click.echo(f"{name:<12} {status.replace('_', ' ')}: {found}")
        click.echo(f"{'':<12} override: {_override_text(report['overrides'])}")
        if report["store"] is not None:
            click.echo(f"{'':<12} store: {_store_text(report['store'])}")
    for advice in report["advice"]:
        click.echo(f"{'':<12} - {advice}")


def _override_text(overrides: list[dict[str, Any]]) -> str:
    if not overrides:
        return "none"
    parts = [
        f"{item['name']}={item['value']}"
        if item["value"]
        else f"{item['name']} (not set)"
        for item in overrides
    ]
    return ", ".join(parts)


def _store_text(counts: dict[str, Any]) -> str:
    last = counts["last_import"] or "never"
    return (
        f"{_plural(counts['events'], 'event')} in "
        f"{_plural(counts['sessions'], 'session')} from "
        f"{_plural(counts['files_imported'], 'file')}, "
        f"{_plural(counts['bad_lines'], 'bad line')}, "
        f"{counts['estimated_events']} estimated, {counts['unpriced_events']} unpriced, "
        f"last import {last}"
    )


def _size_text(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{size / 1000:.1f} kB"
