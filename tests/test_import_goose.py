"""Goose importer: session totals, growing sessions and schema drift."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from otel_cost.capture.importers import get_importer
from otel_cost.capture.importers.goose import GooseImporter
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "goose"
RATE_CARD = (
    Path(__file__).parents[1]
    / "otel_cost/pricing/data/litellm-model-prices-2026-07-24.json"
)
RATES = json.loads(RATE_CARD.read_text(), parse_float=Decimal)


def cost(
    model: str, input_tokens: int, output_tokens: int, read: int = 0, write: int = 0
) -> Decimal:
    """Price session totals by hand at the rate card's per-token rates."""
    rates = RATES[model]
    total = (
        input_tokens * rates["input_cost_per_token"]
        + output_tokens * rates["output_cost_per_token"]
    )
    if read:
        total += read * rates["cache_read_input_token_cost"]
    if write:
        total += write * rates["cache_creation_input_token_cost"]
    return total


COST_SONNET = cost("claude-sonnet-4-5", 182400, 9150)
COST_GPT41 = cost("gpt-4.1", 52000, 3100)
# A release without the accumulated columns: the plain totals are used.
COST_MINI = cost("gpt-5-mini", 800, 150)
# Recent releases add cache totals, taken out of the input that includes them:
# 120000 - 90000 - 8000 = 22000 uncached.
COST_CACHED = cost("claude-sonnet-4-5", 22000, 4000, read=90000, write=8000)
COST_SUBAGENT = cost("gpt-5-mini", 3000, 400)
TOTAL = COST_SONNET + COST_GPT41 + COST_MINI + COST_CACHED + COST_SUBAGENT


@pytest.fixture
def goose_dir(tmp_path: Path) -> Path:
    """A Goose data directory with ``sessions/sessions.db``."""
    root = tmp_path / "goose"
    (root / "sessions").mkdir(parents=True)
    connection = sqlite3.connect(root / "sessions" / "sessions.db")
    connection.executescript((FIXTURES / "sessions.sql").read_text())
    connection.commit()
    connection.close()
    return root


def run_import(store: Store, registry: PricingRegistry, root: Path) -> ImportRun:
    run = ImportRun(store, registry, GooseImporter())
    run.run([root])
    return run


def events_by_id(store: Store) -> dict[str, dict[str, object]]:
    rows = store.query_dicts(
        "SELECT event_id, ts, session_id, parent_session_id, provider, model,"
        " project, input_tokens, cache_read_tokens, cache_write_5m_tokens,"
        " output_tokens, cost_usd, reported_cost_usd, cost_status, attributes"
        " FROM cost_events FINAL WHERE harness = 'goose'"
    )
    return {str(row["event_id"]): row for row in rows}


def test_goose_import_totals(
    store: Store, registry: PricingRegistry, goose_dir: Path
) -> None:
    run = run_import(store, registry, goose_dir)

    events = events_by_id(store)
    assert sorted(events) == [
        "goose:20250903_1",
        "goose:20250903_2",
        "goose:20250904_1",
        "goose:20250904_3",
        "goose:20250905_1",
        "goose:20250905_2",
    ]
    total = store.query(
        "SELECT sum(cost_usd) FROM cost_events FINAL WHERE harness = 'goose'"
    )[0][0]
    assert total == TOTAL
    assert run.summary.unpriced_events == 1
    assert run.summary.bad_lines == 1
    assert run.summary.errors[0].endswith(
        "session 20250904_4: unexpected end of data: line 1 column 15 (char 14)"
    )


def test_goose_session_events_marked(
    store: Store, registry: PricingRegistry, goose_dir: Path
) -> None:
    run_import(store, registry, goose_dir)
    events = events_by_id(store)

    sonnet = events["goose:20250903_1"]
    assert sonnet["attributes"]["granularity"] == "session"
    assert sonnet["attributes"]["reported_total_tokens"] == "191550"
    assert sonnet["cost_status"] == "estimated"
    assert sonnet["reported_cost_usd"] == Decimal("0.68445")
    assert (sonnet["input_tokens"], sonnet["output_tokens"]) == (182400, 9150)
    assert (sonnet["provider"], sonnet["model"]) == ("anthropic", "claude-sonnet-4-5")
    assert sonnet["project"] == "gateway"
    # The store returns UTC times without a zone.
    assert sonnet["ts"] == datetime(2025, 9, 3, 9, 12, 44)
    assert "token_columns" not in sonnet["attributes"]
    plain = events["goose:20250904_1"]
    assert plain["attributes"]["token_columns"] == "plain"
    assert (plain["input_tokens"], plain["output_tokens"]) == (800, 150)
    cached = events["goose:20250905_1"]
    assert (cached["input_tokens"], cached["cache_read_tokens"]) == (22000, 90000)
    assert cached["cache_write_5m_tokens"] == 8000
    subagent = events["goose:20250905_2"]
    assert subagent["parent_session_id"] == "20250905_1"
    assert subagent["attributes"]["session_type"] == "sub_agent"
    local = events["goose:20250904_3"]
    assert local["cost_status"] == "unpriced"
    assert local["cost_usd"] is None


def test_goose_growing_session_replaced(
    store: Store, registry: PricingRegistry, goose_dir: Path
) -> None:
    run_import(store, registry, goose_dir)
    connection = sqlite3.connect(goose_dir / "sessions" / "sessions.db")
    connection.execute(
        "UPDATE sessions SET accumulated_input_tokens = 196000,"
        " accumulated_output_tokens = 9800, updated_at = '2025-09-06 08:00:00'"
        " WHERE id = '20250903_1'"
    )
    connection.commit()
    connection.close()
    # The update can land within the clock tick of the first import's stat.
    database = goose_dir / "sessions" / "sessions.db"
    os.utime(database, ns=(1, database.stat().st_mtime_ns + 1_000_000_000))

    second = run_import(store, registry, goose_dir)
    third = run_import(store, registry, goose_dir)

    assert (second.summary.inserted, second.summary.replaced) == (0, 1)
    assert (third.summary.inserted, third.summary.replaced) == (0, 0)
    grown = TOTAL - COST_SONNET + cost("claude-sonnet-4-5", 196000, 9800)
    count, total = store.query(
        "SELECT count(), sum(cost_usd) FROM cost_events FINAL WHERE harness = 'goose'"
    )[0]
    assert (count, total) == (6, grown)
    rollup = store.query(
        "SELECT sum(events), sum(cost_usd), sum(input_tokens) FROM cost_rollup_15m"
        " WHERE harness = 'goose'"
    )[0]
    assert rollup == (6, grown, 196000 + 52000 + 800 + 12000 + 22000 + 3000)


def test_goose_missing_table_reported(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "goose"
    (root / "sessions").mkdir(parents=True)
    connection = sqlite3.connect(root / "sessions" / "sessions.db")
    connection.execute("CREATE TABLE threads (id TEXT PRIMARY KEY)")
    connection.close()

    run = run_import(store, registry, root)

    assert run.summary.inserted == 0
    assert "no sessions table" in run.summary.errors[0]


def test_goose_default_roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    importer = get_importer("goose")
    monkeypatch.delenv("GOOSE_PATH_ROOT", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert importer.default_roots() == [tmp_path / "home/.local/share/goose"]
    monkeypatch.setattr("sys.platform", "darwin")
    assert importer.default_roots()[-1] == (
        tmp_path / "home/Library/Application Support/Block.goose"
    )
    monkeypatch.setenv("GOOSE_PATH_ROOT", str(tmp_path / "gr"))
    assert importer.default_roots() == [tmp_path / "gr/data"]


def test_goose_watermark_skips_old_sessions(goose_dir: Path) -> None:
    database = goose_dir / "sessions" / "sessions.db"
    importer = GooseImporter()
    first = importer.parse(database, 0, {})
    connection = sqlite3.connect(database)
    connection.execute(
        "UPDATE sessions SET accumulated_output_tokens = 3500,"
        " updated_at = '2025-09-06 08:00:00' WHERE id = '20250903_2'"
    )
    connection.commit()
    connection.close()

    second = importer.parse(database, 0, first.state)

    assert first.state == {"updated_at": "2025-09-05 07:40:00"}
    # The session at the watermark itself is read again; the store skips it.
    assert [event.event_id for event in second.events] == [
        "goose:20250903_2",
        "goose:20250905_1",
    ]
    assert second.events[0].usage.total_tokens == 52000 + 3500
    assert second.state == {"updated_at": "2025-09-06 08:00:00"}
