"""``otel-cost doctor`` through click's runner, with fixture agent homes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_import_copilot import build_copilot_home
from test_import_cursor import write_state_db
from test_import_zed import write_threads_db

from otel_cost.capture.importers import importer_names
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.capture.importers.zed import ZedImporter
from otel_cost.cli.main import cli
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store


@pytest.fixture
def agent_homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Fixture data of Zed, Copilot and Cursor, chosen by their overrides."""
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "COPILOT_HOME"):
        monkeypatch.delenv(variable, raising=False)
    zed = tmp_path / "zed"
    write_threads_db(zed)
    copilot_cli, copilot_vscode = build_copilot_home(tmp_path / "copilot")
    cursor = tmp_path / "cursor"
    write_state_db(cursor)
    monkeypatch.setenv("OTEL_COST_ZED_DIR", str(zed))
    monkeypatch.setenv("OTEL_COST_COPILOT_DIR", str(copilot_cli))
    monkeypatch.setenv("OTEL_COST_COPILOT_VSCODE_DIR", str(copilot_vscode))
    monkeypatch.setenv("OTEL_COST_CURSOR_DIR", str(cursor))
    return {"zed": zed, "copilot": copilot_cli, "cursor": cursor}


def run_doctor(*args: str) -> tuple[int, dict[str, Any]]:
    """Run ``otel-cost doctor --json`` and return the exit code and the report."""
    result = CliRunner().invoke(cli, ["doctor", "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, json.loads(result.output)


def by_importer(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Index the report's importer entries by name."""
    return {entry["importer"]: entry for entry in report["importers"]}


def test_doctor_lists_every_importer(tmp_path: Path) -> None:
    exit_code, report = run_doctor("--db", f"chdb://{tmp_path / 'no-store'}")

    assert exit_code == 0
    assert [entry["importer"] for entry in report["importers"]] == importer_names()
    assert report["store"]["status"] == "missing"
    assert str(tmp_path / "no-store") in report["store"]["message"]
    for entry in report["importers"]:
        assert entry["status"] in {"not_found", "found", "unavailable"}, entry
        # Each importer names its overrides (env_vars or the doctor's table).
        assert entry.get("overrides"), entry["importer"]


def test_doctor_counts_store_and_disk(
    agent_homes: dict[str, Path],
    store: Store,
    registry: PricingRegistry,
    engine_dsn: str,
) -> None:
    ImportRun(store, registry, ZedImporter()).run()

    exit_code, report = run_doctor("--db", engine_dsn)

    entries = by_importer(report)
    zed, copilot, cursor = entries["zed"], entries["copilot"], entries["cursor"]
    assert exit_code == 0
    assert report["store"]["status"] == "ok"
    # Zed: one database with three threads, two priced and one damaged.
    assert zed["files"] == 1
    assert zed["sessions"] == 3
    assert zed["overrides"] == [
        {"name": "OTEL_COST_ZED_DIR", "value": str(agent_homes["zed"])}
    ]
    assert zed["store"]["events"] == 4
    assert zed["store"]["sessions"] == 2
    assert zed["store"]["files_imported"] == 1
    assert zed["store"]["bad_lines"] == 1
    assert zed["store"]["last_import"].endswith("+00:00")
    assert zed["status"] == "needs_attention"
    assert zed["advice"][0].startswith("1 record skipped as unreadable; ")
    # Copilot: the store (2 sessions), 3 session logs and a trace database
    # (1 conversation), none imported yet.
    assert copilot["files"] == 5
    assert copilot["sessions"] == 6
    assert copilot["store"]["files_imported"] == 0
    assert copilot["status"] == "not_imported"
    assert copilot["advice"] == ["not imported yet: run `otel-cost import copilot`"]
    # Cursor: one database with three conversations.
    assert cursor["files"] == 1
    assert cursor["sessions"] == 3
    assert cursor["status"] == "not_imported"


def test_doctor_survives_unreachable_store(agent_homes: dict[str, Path]) -> None:
    exit_code, report = run_doctor("--db", "http://127.0.0.1:1")

    zed = by_importer(report)["zed"]
    assert exit_code == 0
    assert report["store"]["status"] == "unavailable"
    assert "127.0.0.1:1" in report["store"]["message"]
    assert zed["files"] == 1
    assert zed["store"] is None
    assert zed["status"] == "found"
    assert zed["advice"] == ["import counts unknown because the store is unavailable"]


def test_doctor_names_wrong_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_COST_CURSOR_DIR", str(tmp_path / "missing"))

    _, report = run_doctor("--db", f"chdb://{tmp_path / 'no-store'}")

    cursor = by_importer(report)["cursor"]
    assert cursor["status"] == "not_found"
    assert cursor["roots"] == [{"path": str(tmp_path / "missing"), "exists": False}]
    assert cursor["advice"] == [
        f"nothing found where OTEL_COST_CURSOR_DIR={tmp_path / 'missing'} points; "
        "fix or unset OTEL_COST_CURSOR_DIR"
    ]


def test_doctor_text_report(agent_homes: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["doctor", "--db", f"chdb://{tmp_path / 'none'}"])

    lines = result.output.splitlines()
    zed_line = next(line for line in lines if line.startswith("zed "))
    assert result.exit_code == 0
    assert lines[0].startswith(f"store        chdb://{tmp_path / 'none'}")
    assert zed_line.startswith("zed          found: 1 file, 3 sessions")
    assert f"override: OTEL_COST_ZED_DIR={agent_homes['zed']}" in result.output
