"""Claude Code transcripts: streaming revisions, resumes, subagents and appends."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from otel_cost.capture.importers.claude_code import ClaudeCodeImporter
from otel_cost.capture.importers.runner import ImportRun, ImportSummary
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

SESSION = "3f9a2b10-5d1e-4c7a-9b0e-2a61c0d4e8f1"
RESUMED = "77aa0000-1111-4222-8333-444455556666"
CWD = "/home/ana/src/shop"

# Rates from the built-in card (USD per token).
SONNET = {"input": D("0.000003"), "output": D("0.000015"), "read": D("0.0000003"),
          "write_1h": D("0.000006")}  # fmt: skip
OPUS = {"input": D("0.000005"), "output": D("0.000025"), "read": D("0.0000005"),
        "write_5m": D("0.00000625")}  # fmt: skip
HAIKU = {"input": D("0.000001"), "output": D("0.000005")}


def assistant(
    message_id: str | None,
    model: str,
    ts: str,
    usage: dict[str, Any],
    request_id: str | None = "req_1",
) -> str:
    record: dict[str, Any] = {
        "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": CWD,
        "sessionId": SESSION, "version": "2.1.240", "gitBranch": "feat/cart",
        "type": "assistant", "uuid": f"uuid-{message_id}-{ts}", "timestamp": ts,
        "message": {"id": message_id, "type": "message", "role": "assistant",
                    "model": model, "content": [], "usage": usage},
    }  # fmt: skip
    if request_id:
        record["requestId"] = request_id
    return json.dumps(record, separators=(",", ":"))


def user(ts: str) -> str:
    return json.dumps(
        {"type": "user", "cwd": CWD, "gitBranch": "feat/cart", "sessionId": SESSION,
         "timestamp": ts, "message": {"role": "user", "content": "fix the cart"}},
        separators=(",", ":"),
    )  # fmt: skip


SONNET_USAGE = {
    "input_tokens": 10,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 200,
    "cache_creation": {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": 200,
    },
}


def write_history(root: Path) -> Path:
    project = root / "projects" / "-home-ana-src-shop"
    project.mkdir(parents=True)
    main = [
        user("2026-11-20T09:00:00.000Z"),
        # One streamed response written three times with growing output.
        assistant("msg_A", "claude-sonnet-4-5-20250929", "2026-11-20T09:00:02.000Z",
                  {**SONNET_USAGE, "output_tokens": 5}),
        assistant("msg_A", "claude-sonnet-4-5-20250929", "2026-11-20T09:00:03.000Z",
                  {**SONNET_USAGE, "output_tokens": 5}),
        assistant("msg_A", "claude-sonnet-4-5-20250929", "2026-11-20T09:00:06.000Z",
                  {**SONNET_USAGE, "output_tokens": 300}, request_id=None),
        assistant("msg_B", "claude-opus-4-8", "2026-11-20T09:01:00.000Z",
                  {"input_tokens": 4, "output_tokens": 100, "cache_read_input_tokens": 2000,
                   "cache_creation_input_tokens": 40,
                   "server_tool_use": {"web_search_requests": 2}}),
        assistant("msg_S", "<synthetic>", "2026-11-20T09:02:00.000Z",
                  {"input_tokens": 0, "output_tokens": 0}),
        assistant("msg_T", "claude-opus-4-8", "2026-11-20T09:03:00.000Z",
                  {"input_tokens": 4, "output_tokens": 1})[:330],
    ]  # fmt: skip
    (project / f"{SESSION}.jsonl").write_text("\n".join(main) + "\n")
    subagents = project / SESSION / "subagents" / "workflows" / "wf1"
    subagents.mkdir(parents=True)
    (subagents / "agent-b1.jsonl").write_text(
        assistant("msg_C", "claude-haiku-4-5-20251001", "2026-11-20T09:01:30.000Z",
                  {"input_tokens": 1000, "output_tokens": 200}) + "\n"
    )  # fmt: skip
    resumed = [
        main[4],  # the resumed session copies msg_B under its original id
        assistant("msg_D", "claude-opus-4-8", "2026-11-21T10:00:00.000Z",
                  {"input_tokens": 100, "output_tokens": 10}),
    ]  # fmt: skip
    (project / f"{RESUMED}.jsonl").write_text("\n".join(resumed) + "\n")
    return root


def cost_a() -> D:
    return (10 * SONNET["input"] + 1000 * SONNET["read"] + 200 * SONNET["write_1h"]
            + 300 * SONNET["output"])  # fmt: skip


def cost_b() -> D:
    return (4 * OPUS["input"] + 2000 * OPUS["read"] + 40 * OPUS["write_5m"]
            + 100 * OPUS["output"] + 2 * D("0.01"))  # fmt: skip


def cost_c() -> D:
    return 1000 * HAIKU["input"] + 200 * HAIKU["output"]


def cost_d() -> D:
    return 100 * OPUS["input"] + 10 * OPUS["output"]


def run(store: Store, registry: PricingRegistry, root: Path) -> ImportSummary:
    return ImportRun(store, registry, ClaudeCodeImporter()).run([root])


def totals(store: Store) -> tuple[D, int]:
    row = store.query("SELECT sum(cost_usd), count() FROM cost_events FINAL")[0]
    return row[0], row[1]


def rollup(store: Store) -> tuple[D, int]:
    row = store.query("SELECT sum(cost_usd), sum(events) FROM cost_rollup_15m")[0]
    return row[0], row[1]


def test_import_hand_computed_total(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    summary = run(store, registry, write_history(tmp_path / "claude"))
    expected = cost_a() + cost_b() + cost_c() + cost_d()
    assert totals(store) == (expected, 4)
    assert rollup(store) == (expected, 4)
    assert summary.cost_usd == expected
    assert summary.files == 3
    assert summary.bad_lines == 1
    assert summary.duplicates == 1


def test_streamed_revisions_fold_to_final(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, write_history(tmp_path / "claude"))
    row = store.query_dicts(
        "SELECT ts, output_tokens, cache_write_1h_tokens, cost_usd FROM cost_events FINAL "
        "WHERE event_id = 'claude-code:msg_A'"
    )[0]
    assert row["output_tokens"] == 300
    assert row["cache_write_1h_tokens"] == 200
    assert row["ts"].isoformat().startswith("2026-11-20T09:00:02")
    assert row["cost_usd"] == cost_a()


def test_subagent_belongs_to_parent(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, write_history(tmp_path / "claude"))
    row = store.query_dicts(
        "SELECT session_id, attributes, project FROM cost_events FINAL "
        "WHERE event_id = 'claude-code:msg_C'"
    )[0]
    assert row["session_id"] == SESSION
    assert row["attributes"]["subagent"] == "agent-b1"
    assert row["project"] == "shop"


def test_resumed_copy_counted_once(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, write_history(tmp_path / "claude"))
    rows = store.query(
        "SELECT session_id, count() FROM cost_events FINAL WHERE event_id = 'claude-code:msg_B' "
        "GROUP BY session_id"
    )
    assert rows == [(SESSION, 1)]


def test_synthetic_entries_not_calls(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, write_history(tmp_path / "claude"))
    assert (
        store.query("SELECT count() FROM cost_events WHERE model = '<synthetic>'")[0][0]
        == 0
    )


def test_reimport_changes_nothing(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    root = write_history(tmp_path / "claude")
    run(store, registry, root)
    again = run(store, registry, root)
    assert again.files_read == 0
    assert again.inserted == 0
    expected = cost_a() + cost_b() + cost_c() + cost_d()
    assert totals(store) == (expected, 4)
    assert rollup(store) == (expected, 4)


def test_append_reads_only_new_bytes(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    root = write_history(tmp_path / "claude")
    run(store, registry, root)
    path = root / "projects" / "-home-ana-src-shop" / f"{RESUMED}.jsonl"
    size_before = path.stat().st_size
    new_line = assistant("msg_E", "claude-opus-4-8", "2026-11-21T11:00:00.000Z",
                         {"input_tokens": 20, "output_tokens": 2})  # fmt: skip
    with path.open("a") as handle:
        handle.write(new_line + "\n")
        handle.write(new_line[:40])  # the agent is still writing this line
    summary = run(store, registry, root)
    assert summary.files_read == 1
    assert summary.events == 1
    assert summary.inserted == 1
    offset = store.query(
        "SELECT offset FROM import_progress FINAL WHERE path = %(path)s",
        {"path": str(path)},
    )[0][0]
    assert offset == size_before + len(new_line) + 1
    expected = (
        cost_a()
        + cost_b()
        + cost_c()
        + cost_d()
        + 20 * OPUS["input"]
        + 2 * OPUS["output"]
    )
    assert totals(store) == (expected, 5)


def test_revision_across_runs_replaces(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    root = write_history(tmp_path / "claude")
    path = root / "projects" / "-home-ana-src-shop" / f"{RESUMED}.jsonl"
    with path.open("a") as handle:
        handle.write(assistant("msg_F", "claude-opus-4-8", "2026-11-21T12:00:00.000Z",
                               {"input_tokens": 50, "output_tokens": 1}) + "\n")  # fmt: skip
    run(store, registry, root)
    with path.open("a") as handle:
        handle.write(assistant("msg_F", "claude-opus-4-8", "2026-11-21T12:00:09.000Z",
                               {"input_tokens": 50, "output_tokens": 400}) + "\n")  # fmt: skip
    summary = run(store, registry, root)
    assert summary.replaced == 1
    cost_f = 50 * OPUS["input"] + 400 * OPUS["output"]
    expected = cost_a() + cost_b() + cost_c() + cost_d() + cost_f
    assert totals(store) == (expected, 5)
    assert rollup(store) == (expected, 5)


def test_pricing_version_recorded(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    run(store, registry, write_history(tmp_path / "claude"))
    rows = store.query("SELECT version, models FROM pricing_versions FINAL")
    assert rows == [("litellm-2026-07-24", len(registry.cards[0].models))]
    versions = store.query("SELECT DISTINCT pricing_version FROM cost_events FINAL")
    assert versions == [("litellm-2026-07-24",)]
