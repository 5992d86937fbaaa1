"""``otel-cost import all`` over several agents gives one consistent report."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from otel_cost.capture.importers import get_importer
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.cli.main import cli
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store, open_store

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
# Each agent's location override, pointed at its test fixtures.
HOMES = {
    "claude-code": (
        "CLAUDE_CONFIG_DIR",
        REPO / "otel_cost" / "examples" / "claude-code",
    ),
    "codex": ("CODEX_HOME", FIXTURES / "codex" / "home"),
    "gemini": ("OTEL_COST_GEMINI_DIR", FIXTURES / "gemini" / "home" / ".gemini"),
    "opencode": ("OTEL_COST_OPENCODE_DIR", FIXTURES / "opencode"),
    "roo-code": ("OTEL_COST_ROO_CODE_DIR", FIXTURES / "roo-code"),
    "cline": ("OTEL_COST_CLINE_DIR", FIXTURES / "cline"),
    "kilo-code": ("OTEL_COST_KILO_CODE_DIR", FIXTURES / "kilo-code"),
    "qwen-code": ("QWEN_HOME", FIXTURES / "qwen-code"),
}


@pytest.fixture
def agent_homes(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, path in HOMES.values():
        monkeypatch.setenv(variable, str(path))


def harness_totals(store: Store) -> dict[str, tuple[D, int]]:
    rows = store.query(
        "SELECT harness, sum(cost_usd), count() FROM cost_events FINAL GROUP BY harness"
    )
    return {harness: (cost, events) for harness, cost, events in rows}


def test_import_all_rows_per_harness(
    store: Store, registry: PricingRegistry, engine_dsn: str, agent_homes: None
) -> None:
    runner = CliRunner()
    imported = runner.invoke(cli, ["import", "all", "--db", engine_dsn, "--json"])
    assert imported.exit_code == 0, imported.output
    summary = json.loads(imported.stdout)
    report = runner.invoke(
        cli, ["report", "--db", engine_dsn, "--by", "harness", "--tz", "UTC",
              "--format", "json"],
    )  # fmt: skip
    payload = json.loads(report.stdout)
    keys = {row["key"] for row in payload["rows"]}
    assert keys == set(HOMES)
    total = sum((D(row["cost_usd"]) for row in payload["rows"]), D(0))
    assert total == D(payload["total_usd"])
    assert D(summary["total"]["cost_usd"]) == total

    # Each agent imported on its own into another database gives the same row.
    alone = open_store(engine_dsn, f"{store.database}_alone")
    try:
        for name in HOMES:
            ImportRun(alone, registry, get_importer(name)).run()
        assert harness_totals(alone) == harness_totals(store)
    finally:
        alone.command(f"DROP DATABASE IF EXISTS {alone.database}")
        alone.close()


def test_import_all_twice_is_stable(
    store: Store, engine_dsn: str, agent_homes: None
) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["import", "all", "--db", engine_dsn])
    before = harness_totals(store)
    again = runner.invoke(cli, ["import", "all", "--db", engine_dsn, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["total"]["inserted"] == 0
    assert harness_totals(store) == before
    rollup = store.query("SELECT sum(cost_usd), sum(events) FROM cost_rollup_15m")[0]
    raw = store.query("SELECT sum(cost_usd), count() FROM cost_events FINAL")[0]
    assert rollup[1] == raw[1]
    assert rollup[0] == raw[0]
