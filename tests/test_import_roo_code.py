"""Roo Code importer: task histories, subtasks, conventions and re-imports."""

from __future__ import annotations

import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from otel_cost.capture.importers import get_importer
from otel_cost.capture.importers.roo_family import RooCodeImporter
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "roo-code"
RATE_CARD = (
    Path(__file__).parents[1]
    / "otel_cost/pricing/data/litellm-model-prices-2026-07-24.json"
)
RATES = json.loads(RATE_CARD.read_text(), parse_float=Decimal)
TASK = "8f6a1c2e-4b7d-4e11-9a3f-2d5c7e9b1a04"
SUBTASK = "c3e9d7a1-0f2b-4c8e-b6a5-71d2e4f9c830"


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


# tokensIn includes the cache tokens, which are taken out of input.
COST_FIRST = cost("claude-sonnet-4-5", input=450, cache_write=18000, output=812)
COST_SECOND = cost(
    "claude-sonnet-4-5", input=530, cache_write=2500, cache_read=18000, output=640
)
# An older entry whose tokensIn (6) is smaller than its cache parts: uncached.
COST_OLDER = cost(
    "claude-sonnet-4-5", input=6, cache_write=1200, cache_read=30000, output=300
)
COST_CANCELLED = cost("claude-sonnet-4-5", input=900)
COST_SUBTASK = cost("gpt-4.1", input=4000, cache_read=8000, output=700)
TOTAL = COST_FIRST + COST_SECOND + COST_OLDER + COST_CANCELLED + COST_SUBTASK


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    """A copy of Roo Code's globalStorage directory."""
    root = tmp_path / "rooveterinaryinc.roo-cline"
    shutil.copytree(FIXTURES / "rooveterinaryinc.roo-cline", root)
    return root


def run_import(store: Store, registry: PricingRegistry, root: Path) -> ImportRun:
    run = ImportRun(store, registry, RooCodeImporter())
    run.run([root])
    return run


def events_by_id(store: Store) -> dict[str, dict[str, object]]:
    rows = store.query_dicts(
        "SELECT event_id, session_id, parent_session_id, provider, model, project,"
        " input_tokens, cache_read_tokens, cache_write_5m_tokens, output_tokens,"
        " cost_usd, reported_cost_usd, outcome, error_type, attributes"
        " FROM cost_events FINAL WHERE harness = 'roo-code'"
    )
    return {str(row["event_id"]): row for row in rows}


def test_roo_code_import_totals(
    store: Store, registry: PricingRegistry, storage_dir: Path
) -> None:
    run = run_import(store, registry, storage_dir)

    events = events_by_id(store)
    assert sorted(events) == [
        f"roo-code:{TASK}:1756200000500",
        f"roo-code:{TASK}:1756200030000",
        f"roo-code:{TASK}:1756200061000",
        f"roo-code:{TASK}:1756200090000",
        f"roo-code:{TASK}:1756200130000",
        f"roo-code:{SUBTASK}:1756200070400",
    ]
    total = store.query(
        "SELECT sum(cost_usd) FROM cost_events FINAL WHERE harness = 'roo-code'"
    )[0][0]
    assert total == TOTAL
    reported = store.query(
        "SELECT sum(reported_cost_usd) FROM cost_events FINAL"
        " WHERE harness = 'roo-code'"
    )[0][0]
    assert reported == sum(
        Decimal(value)
        for value in ("0.081030", "0.026565", "0.018518", "0.0027", "0.0176", "0.0412")
    )
    assert run.summary.unpriced_events == 1
    assert run.summary.bad_lines == 1
    assert "entry 6:" in run.summary.errors[0]


def test_roo_code_event_attribution(
    store: Store, registry: PricingRegistry, storage_dir: Path
) -> None:
    run_import(store, registry, storage_dir)
    events = events_by_id(store)

    first = events[f"roo-code:{TASK}:1756200000500"]
    assert first["model"] == "claude-sonnet-4-5"
    assert first["project"] == "billing"
    assert first["session_id"] == TASK
    assert first["parent_session_id"] == ""
    assert (first["input_tokens"], first["cache_write_5m_tokens"]) == (450, 18000)
    assert first["attributes"]["cwd"] == "/Users/li/src/billing"
    assert first["attributes"]["mode"] == "code"
    # A condensation records only its cost, so it stays unpriced.
    condensed = events[f"roo-code:{TASK}:1756200130000"]
    assert condensed["cost_usd"] is None
    assert condensed["reported_cost_usd"] == Decimal("0.0412")
    assert condensed["attributes"]["record"] == "condense_context"
    assert condensed["model"] == ""
    cancelled = events[f"roo-code:{TASK}:1756200090000"]
    assert cancelled["outcome"] == "cancelled"
    assert cancelled["error_type"] == "user_cancelled"
    subtask = events[f"roo-code:{SUBTASK}:1756200070400"]
    assert subtask["parent_session_id"] == TASK
    assert (subtask["provider"], subtask["model"]) == ("openai", "gpt-4.1")
    assert (subtask["input_tokens"], subtask["cache_read_tokens"]) == (4000, 8000)


def test_roo_code_rewrite_adds_only_new(
    store: Store, registry: PricingRegistry, storage_dir: Path
) -> None:
    run_import(store, registry, storage_dir)
    messages = storage_dir / "tasks" / TASK / "ui_messages.json"
    entries = json.loads(messages.read_text())
    placeholder = next(e for e in entries if e["ts"] == 1756200120000)
    # The placeholder request gets its usage, as Roo Code rewrites the entry.
    placeholder["text"] = json.dumps(
        {
            "apiProtocol": "anthropic",
            "tokensIn": 23000,
            "tokensOut": 210,
            "cacheWrites": 1000,
            "cacheReads": 21000,
            "cost": 0.016,
        }
    )
    messages.write_text(json.dumps(entries))
    os.utime(messages, ns=(1, 1_900_000_000_000_000_000))

    second = run_import(store, registry, storage_dir)
    third = run_import(store, registry, storage_dir)

    assert second.summary.inserted == 1
    assert second.summary.duplicates == 5
    assert third.summary.files_read == 0
    added = cost(
        "claude-sonnet-4-5", input=1000, cache_write=1000, cache_read=21000, output=210
    )
    count, total = store.query(
        "SELECT count(), sum(cost_usd) FROM cost_events FINAL"
        " WHERE harness = 'roo-code'"
    )[0]
    assert (count, total) == (7, TOTAL + added)
    rollup = store.query(
        "SELECT sum(events), sum(cost_usd) FROM cost_rollup_15m"
        " WHERE harness = 'roo-code'"
    )[0]
    assert rollup == (7, TOTAL + added)


def test_roo_code_truncated_file_reported(
    store: Store, registry: PricingRegistry, storage_dir: Path
) -> None:
    messages = storage_dir / "tasks" / SUBTASK / "ui_messages.json"
    messages.write_text(messages.read_text()[:-40])

    run = run_import(store, registry, storage_dir)

    assert run.summary.inserted == 5
    assert run.summary.bad_lines == 2
    assert any("cannot parse the task's messages" in e for e in run.summary.errors)


def test_roo_code_default_roots(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    importer = get_importer("roo-code")
    monkeypatch.delenv("OTEL_COST_ROO_CODE_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    roots = importer.default_roots()
    assert (
        tmp_path / "home/.config/Code/User/globalStorage/rooveterinaryinc.roo-cline"
    ) in roots
    assert len(roots) == 5
    monkeypatch.setattr("sys.platform", "darwin")
    mac = tmp_path / "home/Library/Application Support/Cursor/User/globalStorage"
    assert mac / "rooveterinaryinc.roo-cline" in importer.default_roots()
    monkeypatch.setenv("OTEL_COST_ROO_CODE_DIR", str(tmp_path / "roo"))
    assert importer.default_roots() == [tmp_path / "roo"]
