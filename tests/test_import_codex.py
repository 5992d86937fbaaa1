"""Codex rollouts: token_count repeats, deltas, forks, cache writes and appends."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

import otel_cost
from otel_cost.capture.importers.base import ParseResult
from otel_cost.capture.importers.codex import CodexImporter
from otel_cost.capture.importers.runner import ImportRun, ImportSummary
from otel_cost.events import TokenCategory as T
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "codex"
PARENT = "0199f0c2-7d4e-7a31-9b55-3c1e8f2a6d10"
FORK = "0199f11a-2b6c-7f02-8e47-91d3a5c0b7e4"
CACHE_SESSION = "0199f5d8-41a0-7c9e-a3b2-5e6f7a8b9c0d"
ARCHIVED = "0199c3aa-08f1-7b2d-9e44-1a2b3c4d5e6f"
PARENT_FILE = f"sessions/2026/08/20/rollout-2026-08-20T09-12-00-{PARENT}.jsonl"
FORK_FILE = f"sessions/2026/08/20/rollout-2026-08-20T10-00-00-{FORK}.jsonl"

# Rates from the built-in card litellm-model-prices-2026-07-24.json (USD per token).
# gpt-5.5 has no cache-write rate, so the engine prices cache writes at its input rate.
GPT_5_5 = {"input": D("5e-06"), "cache_read": D("5e-07"), "output": D("3e-05")}
GPT_5_6 = {"input": D("5e-06"), "cache_read": D("5e-07"), "output": D("3e-05"),
           "cache_write": D("6.25e-06")}  # fmt: skip

# Parent session (gpt-5.5). Codex input includes cached tokens and output
# includes reasoning, so uncached input = input - cached, output = output - reasoning.
# A: last_token_usage 12000 in / 8000 cached / 900 out / 400 reasoning.
COST_A = (
    4000 * GPT_5_5["input"]
    + 8000 * GPT_5_5["cache_read"]
    + (500 + 400) * GPT_5_5["output"]
)
# B: last_token_usage 18000 in / 16000 cached / 1200 out / 600 reasoning.
COST_B = (
    2000 * GPT_5_5["input"]
    + 16000 * GPT_5_5["cache_read"]
    + (600 + 600) * GPT_5_5["output"]
)
# C: no last_token_usage; totals 52000/44000/3000/1500 minus 30000/24000/2100/1000.
COST_C = (
    2000 * GPT_5_5["input"]
    + 20000 * GPT_5_5["cache_read"]
    + (400 + 500) * GPT_5_5["output"]
)
# D: the fork's own call, 18000 in / 16000 cached / 800 out / 300 reasoning.
COST_D = (
    2000 * GPT_5_5["input"]
    + 16000 * GPT_5_5["cache_read"]
    + (500 + 300) * GPT_5_5["output"]
)
# E (gpt-5.6) and F (gpt-5.5): 10000 in, of which 6000 are cached and 3000
# are cache writes, and 200 out.
COST_E = (1000 * GPT_5_6["input"] + 6000 * GPT_5_6["cache_read"]
          + 3000 * GPT_5_6["cache_write"] + 200 * GPT_5_6["output"])  # fmt: skip
COST_F = (1000 * GPT_5_5["input"] + 6000 * GPT_5_5["cache_read"]
          + 3000 * GPT_5_5["input"] + 200 * GPT_5_5["output"])  # fmt: skip
# G (archived session): 9000 uncached in, 300 out of which 120 reasoning.
COST_G = 9000 * GPT_5_5["input"] + (180 + 120) * GPT_5_5["output"]
HOME_TOTAL = COST_A + COST_B + COST_C + COST_D + COST_E + COST_F + COST_G


class RecordingCodexImporter(CodexImporter):
    """The real importer, remembering the byte offset each parse starts from."""

    def __init__(self) -> None:
        self.starts: list[int] = []

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Record ``start``, then parse as usual."""
        self.starts.append(start)
        return super().parse(path, start, state)


def copy_home(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "home", tmp_path / "codex"))


def run(store: Store, registry: PricingRegistry, root: Path,
        importer: CodexImporter | None = None) -> ImportSummary:  # fmt: skip
    return ImportRun(store, registry, importer or CodexImporter()).run([root])


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


def codex_id(
    session: str, total: int, prompt: int, cached: int, output: int, reasoning: int
) -> str:
    return f"codex:{session}:{total}:{prompt}:{cached}:{output}:{reasoning}"


ID_A = codex_id(PARENT, 12900, 12000, 8000, 900, 400)
ID_B = codex_id(PARENT, 32100, 30000, 24000, 2100, 1000)
ID_C = codex_id(PARENT, 55000, 52000, 44000, 3000, 1500)
ID_D = codex_id(PARENT, 73800, 70000, 60000, 3800, 1800)


def test_home_hand_computed_total(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    summary = run(store, registry, copy_home(tmp_path))
    assert totals(store) == (HOME_TOTAL, 7)
    assert rollup(store) == (HOME_TOTAL, 7)
    assert summary.cost_usd == HOME_TOTAL
    assert summary.files == 4
    assert summary.bad_lines == 1
    assert summary.duplicates == 2
    assert summary.unpriced_events == 0


def test_discovery_dedups_archived_basenames(tmp_path: Path) -> None:
    root = copy_home(tmp_path)
    found = [
        path.relative_to(root).as_posix() for path in CodexImporter().discover(root)
    ]
    assert found == [
        PARENT_FILE,
        FORK_FILE,
        f"sessions/2026/08/21/rollout-2026-08-21T16-30-05-{CACHE_SESSION}.jsonl",
        f"archived_sessions/rollout-2026-08-12T08-01-44-{ARCHIVED}.jsonl",
    ]


def test_repeated_token_count_skipped() -> None:
    result = CodexImporter().parse(FIXTURES / "home" / PARENT_FILE, 0, {})
    assert [event.event_id for event in result.events] == [ID_A, ID_B, ID_C]


def test_cache_and_reasoning_split(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, copy_home(tmp_path))
    row = event_row(store, ID_A)
    assert row["input_tokens"] == 4000
    assert row["cache_read_tokens"] == 8000
    assert row["output_tokens"] == 500
    assert row["reasoning_tokens"] == 400
    assert row["cost_usd"] == COST_A
    assert row["model"] == "gpt-5.5"
    assert row["harness"] == "codex"
    assert row["source"] == "import"
    assert row["provider"] == "openai"
    assert row["project"] == "api"
    assert row["git_branch"] == "main"
    assert row["session_id"] == PARENT


def test_missing_last_usage_uses_delta() -> None:
    result = CodexImporter().parse(FIXTURES / "home" / PARENT_FILE, 0, {})
    usage = result.events[2].usage
    assert usage.get(T.INPUT) == 2000
    assert usage.get(T.CACHE_READ) == 20000
    assert usage.get(T.OUTPUT) == 400
    assert usage.get(T.REASONING) == 500


def test_cache_writes_follow_card(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, copy_home(tmp_path))
    rows = store.query_dicts(
        "SELECT model, input_tokens, cache_write_5m_tokens, cost_usd "
        "FROM cost_events FINAL WHERE session_id = %(session)s ORDER BY ts",
        {"session": CACHE_SESSION},
    )
    assert [row["model"] for row in rows] == ["gpt-5.6", "gpt-5.5"]
    assert [row["input_tokens"] for row in rows] == [1000, 1000]
    assert [row["cache_write_5m_tokens"] for row in rows] == [3000, 3000]
    assert rows[0]["cost_usd"] == COST_E
    assert rows[1]["cost_usd"] == COST_F


def test_fork_replay_counted_once(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, copy_home(tmp_path))
    assert event_row(store, ID_B)["session_id"] == PARENT
    assert event_row(store, ID_C)["session_id"] == PARENT
    fork_call = event_row(store, ID_D)
    assert fork_call["session_id"] == FORK
    assert fork_call["parent_session_id"] == PARENT
    assert fork_call["git_branch"] == "pagination-v2"
    assert fork_call["cost_usd"] == COST_D
    fork_cost = store.query(
        "SELECT sum(cost_usd) FROM cost_events FINAL WHERE session_id = %(s)s",
        {"s": FORK},
    )[0][0]
    assert fork_cost == COST_D


def test_fork_window_skips_early_replay() -> None:
    # The copy of call A is stamped one second after the fork's session_meta.
    result = CodexImporter().parse(FIXTURES / "home" / FORK_FILE, 0, {})
    assert [event.event_id for event in result.events] == [ID_B, ID_C, ID_D]


def test_malformed_line_counted(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    summary = run(store, registry, copy_home(tmp_path))
    assert summary.bad_lines == 1
    assert len(summary.errors) == 1
    assert PARENT in summary.errors[0]
    assert "line 14 after byte 0:" in summary.errors[0]


def test_first_line_must_be_meta(store: Store, registry: PricingRegistry) -> None:
    summary = run(store, registry, FIXTURES / "invalid")
    assert summary.files == 1
    assert summary.events == 0
    assert len(summary.errors) == 1
    assert "first line must be a session_meta record" in summary.errors[0]


def test_append_reads_only_new_bytes(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    lines = (FIXTURES / "home" / PARENT_FILE).read_text().splitlines(keepends=True)
    del lines[13]  # the malformed line
    first_part = "".join(lines[:13])  # through call B
    pending = lines[13]  # turn_context, still being written at the first import
    path = tmp_path / "codex" / PARENT_FILE
    path.parent.mkdir(parents=True)
    path.write_text(first_part + pending[:30])
    importer = RecordingCodexImporter()

    first = run(store, registry, tmp_path / "codex", importer)
    assert first.events == 2
    offset = store.query("SELECT offset FROM import_progress FINAL")[0][0]
    assert offset == len(first_part.encode())

    with path.open("a") as handle:
        handle.write(pending[30:] + "".join(lines[14:]))
    second = run(store, registry, tmp_path / "codex", importer)
    assert importer.starts == [0, offset]
    assert second.events == 1
    assert event_row(store, ID_C)["cost_usd"] == COST_C
    assert totals(store) == (COST_A + COST_B + COST_C, 3)
    assert rollup(store) == (COST_A + COST_B + COST_C, 3)


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


def test_default_root_honours_codex_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CodexImporter().default_roots() == [Path.home() / ".codex"]
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "elsewhere"))
    assert CodexImporter().default_roots() == [tmp_path / "elsewhere"]


def test_bundled_example_imports_cleanly(
    store: Store, registry: PricingRegistry
) -> None:
    examples = Path(otel_cost.__file__).parent / "examples" / "codex"
    summary = run(store, registry, examples)
    # (input incl. cached, cached, output incl. reasoning) of the five gpt-5.5 calls.
    calls = [(21840, 3072, 1184), (24610, 21760, 402), (27950, 24320, 1630),
             (31206, 27904, 2211), (33817, 31104, 517)]  # fmt: skip
    expected = sum(
        (
            (prompt - cached) * GPT_5_5["input"]
            + cached * GPT_5_5["cache_read"]
            + output * GPT_5_5["output"]
            for prompt, cached, output in calls
        ),
        D(0),
    )
    assert summary.events == 5
    assert summary.bad_lines == 0
    assert summary.errors == []
    assert summary.unpriced_events == 0
    assert totals(store) == (expected, 5)
