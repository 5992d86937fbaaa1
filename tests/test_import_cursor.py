"""Cursor importer: estimated usage from state.vscdb, on the real embedded store."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from otel_cost.capture.importers.cursor import CursorImporter, composer_projects
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.events import CostStatus
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "cursor" / "state.json"
WORKSPACES = FIXTURE.with_name("workspaces.json")

# Rates per token from litellm-model-prices-2026-07-24.json.
SONNET_45 = {"input": Decimal("0.000003"), "output": Decimal("0.000015")}
GPT_5 = {"input": Decimal("0.00000125"), "output": Decimal("0.00001")}


def write_state_db(data_dir: Path, entries: dict[str, Any] | None = None) -> Path:
    """Write Cursor's global ``state.vscdb`` from the JSON fixture."""
    fixture = json.loads(FIXTURE.read_text())
    path = data_dir / "User" / "globalStorage" / "state.vscdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    for table in ("ItemTable", "cursorDiskKV"):
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table} "
            "(key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)"
        )
    for key, value in fixture["ItemTable"].items():
        connection.execute("INSERT INTO ItemTable VALUES (?, ?)", (key, value))
    rows = entries if entries is not None else fixture["cursorDiskKV"]
    for key, value in rows.items():
        # A string in the fixture is a damaged value, written as it is.
        text = value if isinstance(value, str) else json.dumps(value)
        connection.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (key, text))
    connection.commit()
    connection.close()
    _write_workspaces(data_dir / "User" / "workspaceStorage")
    return path


def _write_workspaces(storage: Path) -> None:
    for workspace in json.loads(WORKSPACES.read_text()):
        directory = storage / workspace["hash"]
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "workspace.json").write_text(json.dumps(workspace["workspace"]))
        connection = sqlite3.connect(directory / "state.vscdb")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS ItemTable "
            "(key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)"
        )
        connection.execute(
            "INSERT INTO ItemTable VALUES ('composer.composerData', ?)",
            (json.dumps(workspace["composerData"]),),
        )
        connection.commit()
        connection.close()


def test_cursor_import_estimates_costs(
    tmp_path: Path, store: Store, registry: PricingRegistry
) -> None:
    write_state_db(tmp_path / "Cursor")

    summary = ImportRun(store, registry, CursorImporter()).run([tmp_path / "Cursor"])

    rows = store.query(
        "SELECT event_id, input_tokens, output_tokens, cost_usd "
        "FROM cost_events FINAL WHERE harness = 'cursor'"
    )
    found = {row[0]: (row[1], row[2], Decimal(row[3])) for row in rows}
    # a2: input from the 103 characters before it, output from its 106-character
    # reply and 65-character thinking text, four characters per token, rounded up.
    estimated_a2 = 26 * SONNET_45["input"] + 43 * SONNET_45["output"]
    exact_a4 = 5000 * GPT_5["input"] + 700 * GPT_5["output"]
    # b2 (Auto mode): 40 characters before it, a 106-character reply.
    estimated_b2 = 10 * SONNET_45["input"] + 27 * SONNET_45["output"]
    assert found == {
        "cursor:comp-a:a2": (26, 43, estimated_a2),
        "cursor:comp-a:a4": (5000, 700, exact_a4),
        "cursor:comp-b:b2": (10, 27, estimated_b2),
    }
    assert summary.cost_usd == Decimal("0.014408")
    assert summary.bad_lines == 1
    assert "state.vscdb: composer comp-c: unexpected character" in summary.errors[0]


def test_cursor_status_marks_estimates(
    tmp_path: Path, store: Store, registry: PricingRegistry
) -> None:
    write_state_db(tmp_path / "Cursor")

    ImportRun(store, registry, CursorImporter()).run([tmp_path / "Cursor"])

    rows = store.query_dicts(
        "SELECT event_id, cost_status, model_requested, model, attributes, project, "
        "toString(ts) AS ts FROM cost_events FINAL ORDER BY event_id"
    )
    a2, a4, b2 = rows
    assert a2["cost_status"] == "estimated"
    assert a2["model_requested"] == "claude-4.5-sonnet-thinking"
    assert a2["model"] == "claude-sonnet-4-5"
    assert a2["attributes"]["usage_estimate"] == "estimated: characters / 4"
    assert a2["ts"] == "2026-08-20 10:00:20.000"
    # comp-a was opened in the workspace of file:///home/dev/my%20api.
    assert a2["project"] == "my api"
    assert a4["cost_status"] == "priced"
    assert "usage_estimate" not in a4["attributes"]
    assert b2["cost_status"] == "estimated"
    assert b2["model_requested"] == "default"
    assert b2["model"] == "claude-sonnet-4-5"
    assert b2["attributes"]["model_stand_in"] == "Auto mode priced as claude-sonnet-4-5"
    # b2 has no time of its own: the composer's lastUpdatedAt (epoch ms) is used.
    assert b2["ts"] == "2026-08-21 10:00:30.000"
    assert b2["project"] == ""


def test_cursor_unknown_model_stays_unpriced(
    tmp_path: Path, registry: PricingRegistry
) -> None:
    entries = json.loads(FIXTURE.read_text())["cursorDiskKV"]
    entries["bubbleId:comp-a:a2"]["modelInfo"]["modelName"] = "composer-1"
    path = write_state_db(tmp_path / "Cursor", entries)

    events = CursorImporter().parse(path, 0, {}).events
    a2 = next(event for event in events if event.event_id == "cursor:comp-a:a2")
    registry.price_event(a2)

    assert a2.cost_usd is None
    assert a2.cost_status is CostStatus.UNPRICED
    assert a2.attributes["usage_estimate"] == "estimated: characters / 4"


def test_cursor_auto_model_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_COST_CURSOR_AUTO_MODEL", "gpt-5")
    path = write_state_db(tmp_path / "Cursor")

    events = CursorImporter().parse(path, 0, {}).events
    b2 = next(event for event in events if event.event_id == "cursor:comp-b:b2")

    assert b2.model == "gpt-5"
    assert b2.model_requested == "default"


def test_cursor_reads_changed_composers(tmp_path: Path) -> None:
    path = write_state_db(tmp_path / "Cursor")
    first = CursorImporter().parse(path, 0, {})
    unchanged = CursorImporter().parse(path, 0, first.state)
    connection = sqlite3.connect(path)
    bubble = json.loads(FIXTURE.read_text())["cursorDiskKV"]["bubbleId:comp-a:a4"]
    bubble["tokenCount"] = {"inputTokens": 5200, "outputTokens": 760}
    connection.execute(
        "INSERT INTO cursorDiskKV VALUES (?, ?)",
        ("bubbleId:comp-a:a4", json.dumps(bubble)),
    )
    connection.commit()
    connection.close()

    changed = CursorImporter().parse(path, 0, first.state)

    assert len(first.events) == 3
    assert unchanged.events == []
    assert [event.event_id for event in changed.events] == [
        "cursor:comp-a:a2",
        "cursor:comp-a:a4",
    ]
    assert changed.events[1].usage.prompt_tokens == 5200


def test_cursor_roots_per_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    linux = CursorImporter().default_roots()
    monkeypatch.setattr("sys.platform", "darwin")
    macos = CursorImporter().default_roots()
    monkeypatch.setenv("OTEL_COST_CURSOR_DIR", str(tmp_path / "cursor-data"))
    override = CursorImporter().default_roots()

    assert linux == [Path.home() / ".config" / "Cursor"]
    assert macos == [Path.home() / "Library" / "Application Support" / "Cursor"]
    assert override == [tmp_path / "cursor-data"]


def test_cursor_workspace_names(tmp_path: Path) -> None:
    write_state_db(tmp_path / "Cursor")

    projects = composer_projects(tmp_path / "Cursor" / "User" / "workspaceStorage")

    assert projects == {"comp-a": "my api", "comp-z": "mono"}
