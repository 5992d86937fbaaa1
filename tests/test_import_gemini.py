"""Gemini CLI chats: JSONL rewrites, single JSON, subagents, migrations and appends."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

import otel_cost
from otel_cost.capture.importers.base import ParseResult
from otel_cost.capture.importers.gemini import GeminiImporter
from otel_cost.capture.importers.runner import ImportRun, ImportSummary
from otel_cost.events import TokenCategory as T
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "gemini" / "home" / ".gemini"
SESSION = "b7c2e1d4-5a9f-4c3e-8d21-6f0a9e3b7c55"
SUBAGENT = "9d3f0c1e-2a7b-4e58-b6c4-0e1f2d3c4b5a"
OLD_SESSION = "a1b2c3d4-7e8f-4a0b-9c1d-2e3f4a5b6c7d"
OLD_PROJECT = "c0ffee12ab34cd56ef78901234567890abcdef1234567890abcdef1234567890"
NEW_FILE = "tmp/api-server/chats/session-2026-08-19T07-00-b7c2e1d4.jsonl"
OLD_FILE = f"tmp/{OLD_PROJECT}/chats/session-2026-07-30T10-15-a1b2c3d4.json"
G1 = "c41d0e9a-1f2b-4c3d-8e5f-6a7b8c9d0e1f"
G3 = "8a9b0c1d-2e3f-4a5b-b6c7-d8e9f0a1b2c3"

# Rates of gemini-2.5-pro from the built-in card litellm-model-prices-2026-07-24.json
# (USD per token, prompts under the 200k tier). The card has no separate reasoning
# rate, so thoughts are priced at the output rate.
PRO = {"input": D("1.25e-06"), "cache_read": D("1.25e-07"), "output": D("1e-05")}


def call_cost(prompt: int, cached: int, output: int, thoughts: int) -> D:
    """Price one call from Gemini CLI counts, where ``prompt`` includes ``cached``."""
    return (
        (prompt - cached) * PRO["input"]
        + cached * PRO["cache_read"]
        + (output + thoughts) * PRO["output"]
    )


COST_G1 = call_cost(48210, 40960, 812, 1290)
COST_G2 = call_cost(52000, 48000, 400, 600)
COST_G3 = call_cost(53000, 52000, 150, 0)
COST_SUBAGENT = call_cost(12000, 0, 900, 300)
COST_M2 = call_cost(20000, 0, 500, 800)
COST_M4 = call_cost(26000, 19000, 350, 0)
COST_M8 = call_cost(30000, 26000, 200, 100)
HOME_TOTAL = COST_G1 + COST_G2 + COST_G3 + COST_SUBAGENT + COST_M2 + COST_M4 + COST_M8


class RecordingGeminiImporter(GeminiImporter):
    """The real importer, remembering the byte offset each parse starts from."""

    def __init__(self) -> None:
        self.starts: list[int] = []

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Record ``start``, then parse as usual."""
        self.starts.append(start)
        return super().parse(path, start, state)


def copy_home(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES, tmp_path / ".gemini"))


def run(
    store: Store,
    registry: PricingRegistry,
    root: Path,
    importer: GeminiImporter | None = None,
) -> ImportSummary:
    return ImportRun(store, registry, importer or GeminiImporter()).run([root])


def totals(store: Store) -> tuple[D, int]:
    row = store.query("SELECT sum(cost_usd), count() FROM cost_events FINAL")[0]
    return row[0], row[1]


def rollup(store: Store) -> tuple[D, int]:
    row = store.query("SELECT sum(cost_usd), sum(events) FROM cost_rollup_15m")[0]
    return row[0], row[1]


def event_row(store: Store, event_id: str) -> dict[str, Any]:
    rows = store.query_dicts(
        "SELECT * FROM cost_events FINAL WHERE event_id = %(id)s", {"id": event_id}
    )
    assert len(rows) == 1
    return rows[0]


def message(message_id: str, ts: str, tokens: dict[str, int] | None) -> str:
    record = {
        "id": message_id,
        "timestamp": ts,
        "type": "gemini",
        "content": "Done.",
        "thoughts": [],
        "tokens": tokens,
        "model": "gemini-2.5-pro",
    }
    return json.dumps(record, separators=(",", ":"))


def tokens(prompt: int, cached: int, output: int, thoughts: int) -> dict[str, int]:
    total = prompt + output + thoughts
    return {"input": prompt, "output": output, "cached": cached, "thoughts": thoughts,
            "tool": 0, "total": total}  # fmt: skip


def test_home_hand_computed_total(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    summary = run(store, registry, copy_home(tmp_path))
    assert totals(store) == (HOME_TOTAL, 7)
    assert rollup(store) == (HOME_TOTAL, 7)
    assert summary.cost_usd == HOME_TOTAL
    assert summary.files == 4
    assert summary.bad_lines == 1
    assert summary.unpriced_events == 0


def test_rewritten_message_is_one_call(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, copy_home(tmp_path))
    row = event_row(store, f"gemini:{SESSION}:{G1}")
    assert row["input_tokens"] == 48210 - 40960
    assert row["cache_read_tokens"] == 40960
    assert row["output_tokens"] == 812
    assert row["reasoning_tokens"] == 1290
    assert row["cost_usd"] == COST_G1
    assert row["ts"].isoformat().startswith("2026-08-19T07:00:19")
    assert row["harness"] == "gemini"
    assert row["source"] == "import"
    assert row["project"] == "api-server"
    assert row["session_id"] == SESSION


def test_only_priced_gemini_messages(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, copy_home(tmp_path))
    ids = {row[0] for row in store.query("SELECT event_id FROM cost_events FINAL")}
    # msg-5 has no tokens and msg-6 has no model. User and info messages are not calls.
    assert f"gemini:{OLD_SESSION}:msg-5" not in ids
    assert f"gemini:{OLD_SESSION}:msg-6" not in ids
    assert f"gemini:{OLD_SESSION}:msg-1" not in ids
    assert all(row[0] == "gemini-2.5-pro" for row in store.query(
        "SELECT model FROM cost_events FINAL"))  # fmt: skip


def test_rewound_call_still_billed(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, copy_home(tmp_path))
    assert event_row(store, f"gemini:{SESSION}:{G3}")["cost_usd"] == COST_G3


def test_subagent_links_parent_session(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, copy_home(tmp_path))
    row = store.query_dicts(
        "SELECT parent_session_id, project, cost_usd FROM cost_events FINAL "
        "WHERE session_id = %(s)s",
        {"s": SUBAGENT},
    )
    assert len(row) == 1
    assert row[0]["parent_session_id"] == SESSION
    assert row[0]["project"] == "api-server"
    assert row[0]["cost_usd"] == COST_SUBAGENT


def test_migrated_jsonl_counted_once(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    # Resuming an old session copies the .json messages into a new .jsonl file.
    summary = run(store, registry, copy_home(tmp_path))
    assert summary.duplicates == 2
    rows = store.query(
        "SELECT event_id, cost_usd FROM cost_events FINAL "
        "WHERE session_id = %(s)s ORDER BY ts",
        {"s": OLD_SESSION},
    )
    assert rows == [
        (f"gemini:{OLD_SESSION}:msg-2", COST_M2),
        (f"gemini:{OLD_SESSION}:msg-4", COST_M4),
        (f"gemini:{OLD_SESSION}:msg-8", COST_M8),
    ]


def test_single_json_reread_whole(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    path = tmp_path / ".gemini" / OLD_FILE
    path.parent.mkdir(parents=True)
    document = json.loads((FIXTURES / OLD_FILE).read_text())
    path.write_text(json.dumps(document, indent=2))
    run(store, registry, tmp_path / ".gemini")
    assert totals(store) == (COST_M2 + COST_M4, 2)

    # Gemini CLI 0.38 rewrites the whole document when a message is added.
    document["lastUpdated"] = "2026-07-30T10:19:00.000Z"
    document["messages"].append(
        json.loads(
            message("msg-9", "2026-07-30T10:18:40.000Z", tokens(9000, 0, 100, 0))
        )
    )
    path.write_text(json.dumps(document, indent=2))
    importer = RecordingGeminiImporter()
    summary = run(store, registry, tmp_path / ".gemini", importer)
    assert summary.inserted == 1
    assert summary.duplicates == 2
    cost_m9 = call_cost(9000, 0, 100, 0)
    assert totals(store) == (COST_M2 + COST_M4 + cost_m9, 3)
    assert rollup(store) == (COST_M2 + COST_M4 + cost_m9, 3)


def test_single_json_ignores_start_offset() -> None:
    result = GeminiImporter().parse(FIXTURES / OLD_FILE, 500, {})
    assert [event.event_id for event in result.events] == [
        f"gemini:{OLD_SESSION}:msg-2",
        f"gemini:{OLD_SESSION}:msg-4",
    ]
    assert result.offset == (FIXTURES / OLD_FILE).stat().st_size


def test_final_counts_replace_partial(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    lines = (FIXTURES / NEW_FILE).read_text().splitlines(keepends=True)
    path = tmp_path / ".gemini" / NEW_FILE
    path.parent.mkdir(parents=True)
    partial = tokens(48210, 40960, 300, 1290)
    path.write_text(
        "".join(lines[:3]) + message(G1, "2026-08-19T07:00:19.000Z", partial) + "\n"
    )
    run(store, registry, tmp_path / ".gemini")
    cost_partial = call_cost(48210, 40960, 300, 1290)
    assert totals(store) == (cost_partial, 1)

    with path.open("a") as handle:
        handle.write("".join(lines[5:7]))  # g1 again with final counts, then tool calls
    summary = run(store, registry, tmp_path / ".gemini")
    assert summary.replaced == 1
    assert summary.cost_usd == COST_G1 - cost_partial
    assert totals(store) == (COST_G1, 1)
    assert rollup(store) == (COST_G1, 1)
    assert event_row(store, f"gemini:{SESSION}:{G1}")["output_tokens"] == 812


def test_append_reads_only_new_bytes(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    lines = (FIXTURES / NEW_FILE).read_text().splitlines(keepends=True)
    path = tmp_path / ".gemini" / NEW_FILE
    path.parent.mkdir(parents=True)
    first_part = "".join(lines[:8])  # header through g1 with tool calls
    pending = lines[8]  # g2, still being written at the first import
    path.write_text(first_part + pending[:50])
    importer = RecordingGeminiImporter()

    first = run(store, registry, tmp_path / ".gemini", importer)
    assert first.events == 1
    offset = store.query("SELECT offset FROM import_progress FINAL")[0][0]
    assert offset == len(first_part.encode())

    with path.open("a") as handle:
        handle.write(pending[50:] + "".join(lines[9:]))
    second = run(store, registry, tmp_path / ".gemini", importer)
    assert importer.starts == [0, offset]
    assert second.events == 2
    assert second.bad_lines == 1
    row = event_row(store, f"gemini:{SESSION}:{G3}")
    assert row["session_id"] == SESSION
    assert row["project"] == "api-server"
    expected = COST_G1 + COST_G2 + COST_G3
    assert totals(store) == (expected, 3)
    assert rollup(store) == (expected, 3)


def test_reimport_never_double_counts(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    root = copy_home(tmp_path)
    run(store, registry, root)
    again = run(store, registry, root)
    assert again.files_read == 0
    assert again.inserted == 0
    # Forget every offset so each file is parsed again from its first byte.
    store.command("TRUNCATE TABLE import_progress")
    full = run(store, registry, root)
    assert full.files_read == 4
    assert full.inserted == 0
    assert full.replaced == 0
    assert totals(store) == (HOME_TOTAL, 7)
    assert rollup(store) == (HOME_TOTAL, 7)


def test_parse_folds_message_writes(tmp_path: Path) -> None:
    lines = (FIXTURES / NEW_FILE).read_text().splitlines(keepends=True)
    path = tmp_path / "session-2026-08-19T07-00-b7c2e1d4.jsonl"
    partial = message(G1, "2026-08-19T07:00:17.000Z", tokens(48210, 40960, 300, 1290))
    # Header, g1 with partial counts, then g1 without tokens, with final counts
    # and with tool calls.
    path.write_text(lines[0] + partial + "\n" + "".join(lines[3:7]))
    result = GeminiImporter().parse(path, 0, {})
    assert len(result.events) == 1
    assert result.events[0].event_id == f"gemini:{SESSION}:{G1}"
    assert result.events[0].usage.get(T.OUTPUT) == 812
    assert result.events[0].ts.isoformat() == "2026-08-19T07:00:17+00:00"


def test_thoughts_outside_output() -> None:
    result = GeminiImporter().parse(FIXTURES / NEW_FILE, 0, {})
    usage = result.events[1].usage
    assert usage.get(T.INPUT) == 4000
    assert usage.get(T.CACHE_READ) == 48000
    assert usage.get(T.OUTPUT) == 400
    assert usage.get(T.REASONING) == 600


def test_default_roots_follow_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_COST_GEMINI_DIR", raising=False)
    assert GeminiImporter().default_roots() == [Path.home() / ".gemini"]
    # GEMINI_CLI_HOME replaces the home directory, as Gemini CLI itself reads it.
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "gemini-home"))
    assert GeminiImporter().default_roots() == [tmp_path / "gemini-home" / ".gemini"]
    # Our own variable names the directory that contains tmp/ and wins.
    monkeypatch.setenv("OTEL_COST_GEMINI_DIR", str(tmp_path / "chats-copy"))
    assert GeminiImporter().default_roots() == [tmp_path / "chats-copy"]


def test_bundled_example_imports_cleanly(
    store: Store, registry: PricingRegistry
) -> None:
    examples = Path(otel_cost.__file__).parent / "examples" / "gemini"
    summary = run(store, registry, examples)
    calls = [(18433, 0, 642, 911), (20517, 17920, 388, 402),
             (23960, 20224, 1471, 1630), (26112, 23552, 296, 0)]  # fmt: skip
    expected = sum((call_cost(*call) for call in calls), D(0))
    assert summary.events == 4
    assert summary.bad_lines == 0
    assert summary.errors == []
    assert summary.unpriced_events == 0
    assert totals(store) == (expected, 4)
