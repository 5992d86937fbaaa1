"""Zed importer: zstd threads in SQLite, priced on the real embedded store."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zstandard

from otel_cost.capture.importers.runner import ImportRun
from otel_cost.capture.importers.zed import ZedImporter
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "zed" / "threads.json"

# Rates per token from litellm-model-prices-2026-07-24.json.
SONNET_45 = {
    "input": Decimal("0.000003"),
    "output": Decimal("0.000015"),
    "cache_read": Decimal("3E-7"),
    "cache_write": Decimal("0.00000375"),
}
GPT_5 = {"input": Decimal("0.00000125"), "output": Decimal("0.00001")}


def write_threads_db(data_dir: Path, rows: list[dict[str, Any]] | None = None) -> Path:
    """Write Zed's ``threads/threads.db`` from the JSON fixture, as Zed lays it out."""
    rows = rows if rows is not None else json.loads(FIXTURE.read_text())
    path = data_dir / "threads" / "threads.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS threads (id TEXT PRIMARY KEY, summary TEXT NOT NULL, "
        "updated_at TEXT NOT NULL, data_type TEXT NOT NULL, data BLOB NOT NULL, "
        "parent_id TEXT, folder_paths TEXT, folder_paths_order TEXT, created_at TEXT)"
    )
    for row in rows:
        connection.execute(
            "INSERT OR REPLACE INTO threads (id, summary, updated_at, data_type, data, "
            "folder_paths, folder_paths_order, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                row["summary"],
                row["updated_at"],
                row["data_type"],
                _thread_blob(row),
                row["folder_paths"],
                row.get("folder_paths_order"),
                row["updated_at"],
            ),
        )
    connection.commit()
    connection.close()
    return path


def _thread_blob(row: dict[str, Any]) -> bytes:
    if "raw_data" in row:
        return str(row["raw_data"]).encode()
    data = json.dumps(row["thread"]).encode()
    if row["data_type"] == "zstd":
        # Zed compresses at level 3 without writing the content size.
        compressor = zstandard.ZstdCompressor(level=3, write_content_size=False)
        return compressor.compress(data)
    return data


def _totals(store: Store) -> dict[str, tuple[int, Decimal]]:
    rows = store.query(
        "SELECT session_id, count(), sum(cost_usd) FROM cost_events FINAL "
        "WHERE harness = 'zed' GROUP BY session_id"
    )
    return {row[0]: (row[1], Decimal(row[2])) for row in rows}


def test_zed_import_prices_threads(
    tmp_path: Path, store: Store, registry: PricingRegistry
) -> None:
    write_threads_db(tmp_path / "zed")

    summary = ImportRun(store, registry, ZedImporter()).run([tmp_path / "zed"])

    first = (
        1200 * SONNET_45["input"] + 300 * SONNET_45["output"]
        + 2000 * SONNET_45["cache_write"]
    )  # fmt: skip
    second = (
        150 * SONNET_45["input"] + 500 * SONNET_45["output"]
        + 400 * SONNET_45["cache_write"] + 3000 * SONNET_45["cache_read"]
    )  # fmt: skip
    # Cumulative minus both requests: 150 input, 200 output, 2000 cache reads.
    remainder = (
        150 * SONNET_45["input"] + 200 * SONNET_45["output"]
        + 2000 * SONNET_45["cache_read"]
    )  # fmt: skip
    legacy = 1000 * GPT_5["input"] + 200 * GPT_5["output"]
    totals = _totals(store)
    assert first + second + remainder == Decimal("0.03")
    assert totals["thread-a"] == (3, first + second + remainder)
    assert totals["thread-b"] == (1, legacy)
    assert summary.events == 4
    assert summary.bad_lines == 1
    assert summary.cost_usd == Decimal("0.03") + legacy


def test_zed_events_carry_thread_context(
    tmp_path: Path, store: Store, registry: PricingRegistry
) -> None:
    write_threads_db(tmp_path / "zed")

    ImportRun(store, registry, ZedImporter()).run([tmp_path / "zed"])

    rows = store.query_dicts(
        "SELECT event_id, model_requested, model, provider, project, "
        "cache_read_tokens, toString(ts) AS ts FROM cost_events FINAL "
        "WHERE session_id = 'thread-a' ORDER BY event_id"
    )
    assert [row["event_id"] for row in rows] == [
        "zed:thread-a:remainder",
        "zed:thread-a:user-1",
        "zed:thread-a:user-2",
    ]
    assert {row["model"] for row in rows} == {"claude-sonnet-4-5"}
    assert {row["model_requested"] for row in rows} == {"claude-sonnet-4-5-latest"}
    assert {row["provider"] for row in rows} == {"anthropic"}
    # The user opened /home/dev/web first (order "1,0" over the sorted paths).
    assert {row["project"] for row in rows} == {"web"}
    assert [row["cache_read_tokens"] for row in rows] == [2000, 0, 3000]
    assert {row["ts"] for row in rows} == {"2026-08-20 10:00:00.000"}


def test_zed_updated_thread_adds_request(
    tmp_path: Path, store: Store, registry: PricingRegistry
) -> None:
    rows = json.loads(FIXTURE.read_text())
    write_threads_db(tmp_path / "zed", rows)
    ImportRun(store, registry, ZedImporter()).run([tmp_path / "zed"])

    thread = rows[0]["thread"]
    thread["request_token_usage"]["user-3"] = {
        "input_tokens": 100, "output_tokens": 50,
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
    }  # fmt: skip
    cumulative = thread["cumulative_token_usage"]
    cumulative["input_tokens"] += 100
    cumulative["output_tokens"] += 50
    rows[0]["updated_at"] = "2026-08-20T11:00:00+00:00"
    write_threads_db(tmp_path / "zed", rows)
    second = ImportRun(store, registry, ZedImporter()).run([tmp_path / "zed"])

    added = 100 * SONNET_45["input"] + 50 * SONNET_45["output"]
    assert second.inserted == 1
    assert second.cost_usd == added
    assert _totals(store)["thread-a"] == (4, Decimal("0.03") + added)


def test_zed_reads_locked_database(tmp_path: Path) -> None:
    path = write_threads_db(tmp_path / "zed")
    writer = sqlite3.connect(path)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        result = ZedImporter().parse(path, 0, {})
    finally:
        writer.rollback()
        writer.close()

    assert len(result.events) == 4
    assert result.bad_lines == 1
    assert result.errors[0].startswith("thread thread-c:")


def test_zed_roots_follow_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    default = ZedImporter().default_roots()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    xdg = ZedImporter().default_roots()
    monkeypatch.setenv("OTEL_COST_ZED_DIR", str(tmp_path / "custom"))
    override = ZedImporter().default_roots()

    assert default == [Path.home() / ".local" / "share" / "zed"]
    assert xdg == [tmp_path / "xdg" / "zed"]
    assert override == [tmp_path / "custom"]


def test_zed_roots_on_macos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "darwin")

    roots = ZedImporter().default_roots()

    assert roots == [Path.home() / "Library" / "Application Support" / "Zed"]


def test_zed_reads_uncheckpointed_wal(tmp_path: Path) -> None:
    rows = json.loads(FIXTURE.read_text())
    path = write_threads_db(tmp_path / "zed", rows[:1])
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute(
        "INSERT INTO threads (id, summary, updated_at, data_type, data) "
        "VALUES (?, ?, ?, ?, ?)",
        ("thread-b", "b", rows[1]["updated_at"], "json", _thread_blob(rows[1])),
    )
    writer.commit()
    wal = path.with_name("threads.db-wal")
    try:
        # The new thread is only in the -wal file while the writer is open.
        wal_size = wal.stat().st_size
        result = ZedImporter().parse(path, 0, {})
    finally:
        writer.close()

    assert wal_size > 0
    assert sorted({event.session_id for event in result.events}) == [
        "thread-a",
        "thread-b",
    ]
