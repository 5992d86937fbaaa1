"""Kilo Code importer: task histories with the model from task metadata."""

from __future__ import annotations

import json
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from otel_cost.capture.importers import get_importer
from otel_cost.capture.importers.roo_family import KiloCodeImporter
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "kilo-code"
RATE_CARD = (
    Path(__file__).parents[1]
    / "otel_cost/pricing/data/litellm-model-prices-2026-07-24.json"
)
RATES = json.loads(RATE_CARD.read_text(), parse_float=Decimal)
TASK = "5b1f0e3c-9d2a-4f6b-8e07-a4c3d2b1e9f8"
HAIKU = RATES["claude-haiku-4-5"]


def haiku_cost(
    uncached: int, cache_write: int, cache_read: int, output: int
) -> Decimal:
    """Price one request by hand at Claude Haiku 4.5 rates."""
    return (
        uncached * HAIKU["input_cost_per_token"]
        + cache_write * HAIKU["cache_creation_input_token_cost"]
        + cache_read * HAIKU["cache_read_input_token_cost"]
        + output * HAIKU["output_cost_per_token"]
    )


# tokensIn includes the cache tokens: 9400 - 9000 and 10150 - 800 - 9000.
TOTAL = haiku_cost(400, 9000, 0, 1100) + haiku_cost(350, 800, 9000, 420)


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    """A globalStorage directory with Kilo Code's and Roo Code's storage."""
    root = tmp_path / "globalStorage"
    shutil.copytree(FIXTURES, root)
    roo = FIXTURES.parent / "roo-code" / "rooveterinaryinc.roo-cline"
    shutil.copytree(roo, root / roo.name)
    return root


def test_kilo_code_import_totals(
    store: Store, registry: PricingRegistry, storage_dir: Path
) -> None:
    # The root is the whole globalStorage directory, which contains other
    # extensions too; only Kilo Code's tasks are read.
    run = ImportRun(store, registry, KiloCodeImporter())
    run.run([storage_dir])

    rows = store.query_dicts(
        "SELECT event_id, model, provider, project, input_tokens, cost_usd"
        " FROM cost_events FINAL WHERE harness = 'kilo-code' ORDER BY ts"
    )
    assert [row["event_id"] for row in rows] == [
        f"kilo-code:{TASK}:1756300000300",
        f"kilo-code:{TASK}:1756300025000",
    ]
    assert [row["input_tokens"] for row in rows] == [400, 350]
    assert {row["model"] for row in rows} == {"claude-haiku-4-5"}
    assert {row["provider"] for row in rows} == {"anthropic"}
    assert {row["project"] for row in rows} == {"queue"}
    assert sum(row["cost_usd"] for row in rows) == TOTAL
    assert run.summary.bad_lines == 1
    assert run.summary.errors[0].endswith("entry 3 is not a JSON object")


def test_kilo_code_reimport_never_double_counts(
    store: Store, registry: PricingRegistry, storage_dir: Path
) -> None:
    ImportRun(store, registry, KiloCodeImporter()).run([storage_dir])
    messages = storage_dir / "kilocode.kilo-code/tasks" / TASK / "ui_messages.json"
    messages.write_text(messages.read_text() + "\n")

    again = ImportRun(store, registry, KiloCodeImporter())
    again.run([storage_dir])

    assert again.summary.files_read == 1
    assert again.summary.inserted == 0
    assert again.summary.duplicates == 2
    total = store.query(
        "SELECT sum(cost_usd) FROM cost_events FINAL WHERE harness = 'kilo-code'"
    )[0][0]
    assert total == TOTAL


def test_kilo_code_default_roots(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    importer = get_importer("kilo-code")
    monkeypatch.delenv("OTEL_COST_KILO_CODE_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr("sys.platform", "linux")
    storage = tmp_path / "config/VSCodium/User/globalStorage/kilocode.kilo-code"
    assert storage in importer.default_roots()
    monkeypatch.setenv("OTEL_COST_KILO_CODE_DIR", str(tmp_path / "kilo"))
    assert importer.default_roots() == [tmp_path / "kilo"]


def test_kilo_code_reads_kilo_database(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    data_dir = tmp_path / "kilo"
    data_dir.mkdir()
    connection = sqlite3.connect(data_dir / "kilo.db")
    connection.executescript((FIXTURES / "kilo.sql").read_text())
    connection.close()

    run = ImportRun(store, registry, KiloCodeImporter())
    run.run([data_dir])

    rows = store.query_dicts(
        "SELECT event_id, session_id, project, input_tokens, cache_read_tokens,"
        " cost_usd, reported_cost_usd FROM cost_events FINAL"
        " WHERE harness = 'kilo-code'"
    )
    assert [row["event_id"] for row in rows] == ["kilo-code:ses_k1:msg_k1"]
    row = rows[0]
    assert (row["session_id"], row["project"]) == ("ses_k1", "queue")
    # OpenCode's convention: input already excludes the cache tokens.
    assert (row["input_tokens"], row["cache_read_tokens"]) == (1500, 12000)
    assert row["cost_usd"] == haiku_cost(1500, 1200, 12000, 800)
    assert row["reported_cost_usd"] == Decimal("0.00705")
    assert run.summary.errors == []
    database = data_dir / "kilo.db"
    assert list(KiloCodeImporter().discover(database)) == [database]


def test_kilo_code_database_roots(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    importer = get_importer("kilo-code")
    for name in ("OTEL_COST_KILO_CODE_DIR", "KILO_DB", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert importer.default_roots()[-1] == tmp_path / "home/.local/share/kilo"
    monkeypatch.setattr("sys.platform", "darwin")
    mac = tmp_path / "home/Library/Application Support/kilo"
    assert importer.default_roots()[-1] == mac
    monkeypatch.setenv("KILO_DB", str(tmp_path / "custom.db"))
    assert importer.default_roots()[-1] == tmp_path / "custom.db"
