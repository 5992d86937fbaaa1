"""OpenCode importer: SQLite and JSON layouts, subtask rollup, re-imports."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from otel_cost.capture.importers import get_importer
from otel_cost.capture.importers.opencode import OpenCodeImporter
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "opencode"
RATE_CARD = (
    Path(__file__).parents[1]
    / "otel_cost/pricing/data/litellm-model-prices-2026-07-24.json"
)
RATES = json.loads(RATE_CARD.read_text(), parse_float=Decimal)


def cost(model: str, **counts: int) -> Decimal:
    """Price token counts by hand with the rate card's per-token rates."""
    keys = {
        "input": "input_cost_per_token",
        "output": "output_cost_per_token",
        "cache_read": "cache_read_input_token_cost",
        "cache_write": "cache_creation_input_token_cost",
    }
    return sum(
        (count * RATES[model][keys[name]] for name, count in counts.items()),
        Decimal(0),
    )


@pytest.fixture
def opencode_dir(tmp_path: Path) -> Path:
    """An OpenCode data directory with a database and older JSON storage."""
    root = tmp_path / "opencode"
    shutil.copytree(FIXTURES / "storage", root / "storage")
    connection = sqlite3.connect(root / "opencode.db")
    connection.executescript((FIXTURES / "opencode.sql").read_text())
    connection.commit()
    connection.close()
    return root


def run_import(store: Store, registry: PricingRegistry, root: Path) -> ImportRun:
    run = ImportRun(store, registry, OpenCodeImporter())
    run.run([root])
    return run


def events_by_id(store: Store) -> dict[str, dict[str, object]]:
    rows = store.query_dicts(
        "SELECT event_id, session_id, parent_session_id, provider, model, project,"
        " input_tokens, cache_read_tokens, cache_write_5m_tokens, output_tokens,"
        " reasoning_tokens, cost_usd, reported_cost_usd, cost_status, outcome,"
        " attributes FROM cost_events FINAL WHERE harness = 'opencode'"
    )
    return {str(row["event_id"]): row for row in rows}


# Hand-computed costs of the fixture's priced messages.
COST_A1 = cost(
    "claude-sonnet-4-5", input=1204, output=688, cache_read=35120, cache_write=2210
)
COST_A2 = cost("claude-sonnet-4-5", input=310, output=1500, cache_read=40000)
# gpt-5 has no reasoning rate, so reasoning tokens take the output rate.
COST_A3 = cost("gpt-5", input=2000, output=500 + 300, cache_read=8000)
COST_A4 = cost("gpt-5", input=1000, output=500 + 400)
COST_O1 = cost(
    "claude-haiku-4-5", input=500, output=200, cache_read=1000, cache_write=300
)


def test_opencode_import_totals(
    store: Store, registry: PricingRegistry, opencode_dir: Path
) -> None:
    run = run_import(store, registry, opencode_dir)

    events = events_by_id(store)
    assert sorted(events) == [
        "opencode:ses_child1:msg_a2",
        "opencode:ses_grand1:msg_a3",
        "opencode:ses_old1:msg_o1",
        "opencode:ses_root1:msg_a1",
        "opencode:ses_root1:msg_a4",
        "opencode:ses_root1:msg_a6",
    ]
    total = store.query(
        "SELECT sum(cost_usd) FROM cost_events FINAL WHERE harness = 'opencode'"
    )[0][0]
    assert total == COST_A1 + COST_A2 + COST_A3 + COST_A4 + COST_O1
    assert run.summary.cost_usd == total
    assert run.summary.unpriced_events == 1
    assert run.summary.bad_lines == 2
    assert len(run.summary.errors) == 2


def test_opencode_subtasks_roll_into_root(
    store: Store, registry: PricingRegistry, opencode_dir: Path
) -> None:
    run_import(store, registry, opencode_dir)
    events = events_by_id(store)

    child = events["opencode:ses_child1:msg_a2"]
    assert child["session_id"] == "ses_root1"
    assert child["parent_session_id"] == "ses_root1"
    assert child["attributes"]["opencode_session_id"] == "ses_child1"
    grandchild = events["opencode:ses_grand1:msg_a3"]
    assert grandchild["session_id"] == "ses_root1"
    assert grandchild["parent_session_id"] == "ses_child1"
    root = events["opencode:ses_root1:msg_a1"]
    assert root["parent_session_id"] == ""
    assert root["project"] == "shop"
    assert root["attributes"]["cwd"] == "/home/ana/src/shop"
    assert events["opencode:ses_old1:msg_o1"]["project"] == "api"


def test_opencode_usage_conventions(
    store: Store, registry: PricingRegistry, opencode_dir: Path
) -> None:
    run_import(store, registry, opencode_dir)
    events = events_by_id(store)

    first = events["opencode:ses_root1:msg_a1"]
    assert (first["input_tokens"], first["cache_read_tokens"]) == (1204, 35120)
    assert (first["cache_write_5m_tokens"], first["output_tokens"]) == (2210, 688)
    assert first["reported_cost_usd"] == Decimal("0.0421")
    # Current releases keep reasoning outside output.
    current = events["opencode:ses_grand1:msg_a3"]
    assert (current["output_tokens"], current["reasoning_tokens"]) == (500, 300)
    # Older releases saved output with reasoning inside, which total reveals.
    older = events["opencode:ses_root1:msg_a4"]
    assert (older["output_tokens"], older["reasoning_tokens"]) == (500, 400)
    unpriced = events["opencode:ses_root1:msg_a6"]
    assert unpriced["cost_usd"] is None
    assert unpriced["cost_status"] == "unpriced"
    assert unpriced["outcome"] == "error"
    assert unpriced["provider"] == "opencode"


def test_opencode_reimport_never_double_counts(
    store: Store, registry: PricingRegistry, opencode_dir: Path
) -> None:
    run_import(store, registry, opencode_dir)
    db = opencode_dir / "opencode.db"
    connection = sqlite3.connect(db)
    connection.execute(
        "INSERT INTO message VALUES ('msg_a7', 'ses_root1', 1755694500000,"
        " 1755694510000, ?)",
        (
            json.dumps(
                {
                    "role": "assistant",
                    "providerID": "anthropic",
                    "modelID": "claude-sonnet-4-5",
                    "time": {"created": 1755694500000, "completed": 1755694510000},
                    "cost": 0.0093,
                    "tokens": {"input": 12, "output": 400, "cache": {"read": 11000}},
                }
            ),
        ),
    )
    connection.commit()
    connection.close()
    # The insert can land within the clock tick of the first import's stat.
    os.utime(db, ns=(1, db.stat().st_mtime_ns + 1_000_000_000))

    second = run_import(store, registry, opencode_dir)
    third = run_import(store, registry, opencode_dir)

    assert second.summary.inserted == 1
    assert third.summary.inserted == 0
    count, total = store.query(
        "SELECT count(), sum(cost_usd) FROM cost_events FINAL"
        " WHERE harness = 'opencode'"
    )[0]
    assert count == 7
    added = cost("claude-sonnet-4-5", input=12, output=400, cache_read=11000)
    assert total == COST_A1 + COST_A2 + COST_A3 + COST_A4 + COST_O1 + added
    rollup = store.query(
        "SELECT sum(cost_usd), sum(events) FROM cost_rollup_15m"
        " WHERE harness = 'opencode'"
    )[0]
    assert rollup == (total, 7)


def test_opencode_reads_locked_database(
    store: Store, registry: PricingRegistry, opencode_dir: Path
) -> None:
    db = opencode_dir / "opencode.db"
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA locking_mode = EXCLUSIVE")
    writer.execute("UPDATE session SET title = 'Fix cart totals (edited)'")
    writer.commit()
    try:
        reader = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            reader.execute("SELECT count(*) FROM message").fetchone()
        reader.close()
        run = run_import(store, registry, opencode_dir)
    finally:
        writer.close()

    assert run.summary.inserted == 6
    assert any("message msg_bad:" in error for error in run.summary.errors)


def test_opencode_unknown_schema_reported(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "opencode"
    root.mkdir()
    connection = sqlite3.connect(root / "opencode.db")
    connection.execute("CREATE TABLE session_v2 (id TEXT PRIMARY KEY, data TEXT)")
    connection.close()

    run = run_import(store, registry, root)

    assert run.summary.inserted == 0
    assert "session_v2" in run.summary.errors[0]


def test_opencode_default_roots(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    importer = get_importer("opencode")
    monkeypatch.delenv("OTEL_COST_OPENCODE_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert importer.default_roots() == [tmp_path / "home/.local/share/opencode"]
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert importer.default_roots() == [tmp_path / "xdg/opencode"]
    monkeypatch.setenv("OTEL_COST_OPENCODE_DIR", str(tmp_path / "oc"))
    assert importer.default_roots() == [tmp_path / "oc"]


def test_opencode_watermark_skips_old_rows(opencode_dir: Path) -> None:
    database = opencode_dir / "opencode.db"
    importer = OpenCodeImporter()
    first = importer.parse(database, 0, {})
    connection = sqlite3.connect(database)
    # A streamed response is saved again with its final usage.
    connection.execute(
        "UPDATE message SET time_updated = 1755694999000,"
        " data = json_set(data, '$.tokens.output', 2000) WHERE id = 'msg_a2'"
    )
    # The unfinished msg_a5 finishes without a newer time_updated.
    connection.execute(
        "UPDATE message SET data = json_set(data, '$.time.completed', 1755694435000,"
        " '$.tokens.input', 40, '$.tokens.output', 90) WHERE id = 'msg_a5'"
    )
    connection.commit()
    connection.close()

    second = importer.parse(database, 0, first.state)

    assert first.state == {
        "message_time_updated": 1755694460000,
        "unfinished_messages": ["msg_a5"],
    }
    assert len(first.events) == 5
    assert [event.event_id for event in second.events] == [
        "opencode:ses_child1:msg_a2",
        "opencode:ses_root1:msg_a5",
    ]
    assert second.events[0].usage.total_tokens == 310 + 40000 + 2000
    assert second.events[1].usage.total_tokens == 40 + 90
    assert second.state == {
        "message_time_updated": 1755694999000,
        "unfinished_messages": [],
    }
