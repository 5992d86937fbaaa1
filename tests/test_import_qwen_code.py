"""Qwen Code importer: chat records, usage conventions and appended lines."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from otel_cost.capture.importers import get_importer
from otel_cost.capture.importers.qwen import QwenCodeImporter
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "qwen-code"
RATE_CARD = (
    Path(__file__).parents[1]
    / "otel_cost/pricing/data/litellm-model-prices-2026-07-24.json"
)
RATES = json.loads(RATE_CARD.read_text(), parse_float=Decimal)
FIRST_SESSION = "0f3b2a6e-5c1d-4e8f-9a7b-3c2d1e0f9a8b"
CHATS = "projects/-home-mei-src-notes/chats"


def cost(model: str, **counts: int) -> Decimal:
    """Price token counts by hand with the rate card's per-token rates."""
    keys = {
        "input": "input_cost_per_token",
        "output": "output_cost_per_token",
        "cache_read": "cache_read_input_token_cost",
    }
    return sum(
        (count * RATES[model][keys[name]] for name, count in counts.items()),
        Decimal(0),
    )


# Thoughts inside candidates (total = prompt + candidates): 900 = 388 + 512.
# Neither model has a reasoning rate, so reasoning takes the output rate.
COST_MINI = cost("gpt-5-mini", input=4000, cache_read=16000, output=388 + 512)
COST_SUBAGENT = cost("gpt-5-mini", input=5000, output=300)
# Gemini's own convention: thoughts outside candidates.
COST_GEMINI = cost("gemini-2.5-pro", input=30000, output=1500 + 800)
TOTAL = COST_MINI + COST_SUBAGENT + COST_GEMINI


@pytest.fixture
def qwen_dir(tmp_path: Path) -> Path:
    """A copy of a Qwen Code home directory with two chat files."""
    root = tmp_path / ".qwen"
    shutil.copytree(FIXTURES, root)
    return root


def run_import(store: Store, registry: PricingRegistry, root: Path) -> ImportRun:
    run = ImportRun(store, registry, QwenCodeImporter())
    run.run([root])
    return run


def events_by_id(store: Store) -> dict[str, dict[str, object]]:
    rows = store.query_dicts(
        "SELECT event_id, session_id, parent_session_id, provider, model, project,"
        " git_branch, input_tokens, cache_read_tokens, output_tokens,"
        " reasoning_tokens, cost_usd, cost_status, attributes"
        " FROM cost_events FINAL WHERE harness = 'qwen-code'"
    )
    return {str(row["event_id"]): row for row in rows}


def test_qwen_code_import_totals(
    store: Store, registry: PricingRegistry, qwen_dir: Path
) -> None:
    run = run_import(store, registry, qwen_dir)

    events = events_by_id(store)
    assert sorted(events) == [
        "qwen-code:a0c3",
        "qwen-code:a0c7",
        "qwen-code:a0c9",
        "qwen-code:b0d2",
    ]
    total = store.query(
        "SELECT sum(cost_usd) FROM cost_events FINAL WHERE harness = 'qwen-code'"
    )[0][0]
    assert total == TOTAL
    assert run.summary.unpriced_events == 1
    # The /branch copy of a0c7 in the second file is a duplicate, not an event.
    assert run.summary.events == 5
    assert run.summary.inserted == 4
    assert run.summary.bad_lines == 1
    assert "line 8 after byte 0" in run.summary.errors[0]


def test_qwen_code_usage_conventions(
    store: Store, registry: PricingRegistry, qwen_dir: Path
) -> None:
    run_import(store, registry, qwen_dir)
    events = events_by_id(store)

    qwen = events["qwen-code:a0c3"]
    assert (qwen["input_tokens"], qwen["cache_read_tokens"]) == (3200, 11000)
    assert qwen["output_tokens"] == 620
    assert qwen["cost_status"] == "unpriced"
    assert qwen["cost_usd"] is None
    assert qwen["provider"] == "qwen"
    mini = events["qwen-code:a0c7"]
    assert (mini["input_tokens"], mini["cache_read_tokens"]) == (4000, 16000)
    assert (mini["output_tokens"], mini["reasoning_tokens"]) == (388, 512)
    assert mini["provider"] == "openai"
    gemini = events["qwen-code:b0d2"]
    assert (gemini["output_tokens"], gemini["reasoning_tokens"]) == (1500, 800)
    assert gemini["provider"] == "gcp.gemini"


def test_qwen_code_event_attribution(
    store: Store, registry: PricingRegistry, qwen_dir: Path
) -> None:
    run_import(store, registry, qwen_dir)
    events = events_by_id(store)

    qwen = events["qwen-code:a0c3"]
    assert qwen["session_id"] == FIRST_SESSION
    assert qwen["project"] == "notes"
    assert qwen["git_branch"] == "main"
    assert qwen["attributes"]["cwd"] == "/home/mei/src/notes"
    subagent = events["qwen-code:a0c9"]
    assert subagent["attributes"]["subagent"] == "Explore"
    assert subagent["session_id"] == FIRST_SESSION


def test_qwen_code_reads_only_appended(
    store: Store, registry: PricingRegistry, qwen_dir: Path
) -> None:
    run_import(store, registry, qwen_dir)
    chat = qwen_dir / CHATS / f"{FIRST_SESSION}.jsonl"
    record = {
        "uuid": "a0d1",
        "parentUuid": "a0c9",
        "sessionId": FIRST_SESSION,
        "timestamp": "2025-09-01T08:05:00.000Z",
        "type": "assistant",
        "model": "gpt-5-mini",
        "usageMetadata": {
            "promptTokenCount": 21000,
            "candidatesTokenCount": 150,
            "cachedContentTokenCount": 20000,
            "totalTokenCount": 21150,
        },
    }
    line = json.dumps(record)
    with chat.open("a") as handle:
        handle.write(line + "\n" + line[:30])

    second = run_import(store, registry, qwen_dir)
    with chat.open("a") as handle:
        handle.write(line[30:] + "\n")
    third = run_import(store, registry, qwen_dir)

    # Only the new complete line is read: no duplicates, no bad lines.
    assert (second.summary.events, second.summary.inserted) == (1, 1)
    assert second.summary.bad_lines == 0
    # The line finished later repeats the uuid, so the store skips it.
    assert (third.summary.events, third.summary.inserted) == (1, 0)
    added = cost("gpt-5-mini", input=1000, cache_read=20000, output=150)
    count, total = store.query(
        "SELECT count(), sum(cost_usd) FROM cost_events FINAL"
        " WHERE harness = 'qwen-code'"
    )[0]
    assert (count, total) == (5, TOTAL + added)


def test_qwen_code_default_roots(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    importer = get_importer("qwen-code")
    monkeypatch.delenv("QWEN_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("QWEN_HOME", raising=False)
    assert importer.default_roots() == [tmp_path / "home/.qwen"]
    monkeypatch.setenv("QWEN_HOME", str(tmp_path / "qh"))
    assert importer.default_roots() == [tmp_path / "qh"]
    monkeypatch.setenv("QWEN_RUNTIME_DIR", str(tmp_path / "runtime"))
    assert importer.default_roots() == [tmp_path / "runtime"]
