"""Copilot importer: CLI store and logs, VS Code traces, on the real embedded store."""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from otel_cost.capture.importers.copilot import CopilotImporter
from otel_cost.capture.importers.runner import ImportRun
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "copilot"

# Rates per token from litellm-model-prices-2026-07-24.json.
SONNET_45 = {
    "input": Decimal("0.000003"),
    "output": Decimal("0.000015"),
    "cache_read": Decimal("3E-7"),
    "cache_write": Decimal("0.00000375"),
}
HAIKU_45 = {"input": Decimal("0.000001"), "output": Decimal("0.000005")}
GPT_5 = {
    "input": Decimal("0.00000125"),
    "output": Decimal("0.00001"),
    "cache_read": Decimal("1.25E-7"),
}
GPT_5_MINI = {
    "input": Decimal("2.5E-7"),
    "output": Decimal("0.000002"),
    "cache_read": Decimal("2.5E-8"),
}
GPT_41 = {"input": Decimal("0.000002"), "output": Decimal("0.000008")}


def sonnet(uncached: int, cache_read: int, cache_write: int, output: int) -> Decimal:
    """Price one Claude Sonnet 4.5 request from exclusive counts."""
    return (
        uncached * SONNET_45["input"]
        + cache_read * SONNET_45["cache_read"]
        + cache_write * SONNET_45["cache_write"]
        + output * SONNET_45["output"]
    )


def build_copilot_home(base: Path) -> tuple[Path, Path]:
    """Lay out a Copilot CLI directory and a VS Code user directory from fixtures."""
    cli = base / ".copilot"
    shutil.copytree(FIXTURES / "session-state", cli / "session-state")
    _run_sql(cli / "session-store.db", FIXTURES / "session-store.sql")
    user = base / "vscode" / "User"
    traces = user / "globalStorage" / "github.copilot-chat" / "agent-traces.db"
    traces.parent.mkdir(parents=True)
    _run_sql(traces, FIXTURES / "agent-traces.sql")
    return cli, user


def _run_sql(database: Path, script: Path) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(database)
    connection.executescript(script.read_text())
    connection.commit()
    connection.close()


def _costs(store: Store) -> dict[str, Decimal]:
    rows = store.query(
        "SELECT event_id, cost_usd FROM cost_events FINAL WHERE harness = 'copilot'"
    )
    return {row[0]: Decimal(row[1]) for row in rows}


def test_copilot_import_prices_every_source(
    tmp_path: Path, store: Store, registry: PricingRegistry
) -> None:
    cli, user = build_copilot_home(tmp_path)

    summary = ImportRun(store, registry, CopilotImporter()).run([cli, user])

    costs = _costs(store)
    store_rows = {
        # 12000 input includes 9000 cache reads and 2000 cache writes.
        "copilot:s-store-1:store:1@2026-08-20T10:00:00.000Z": sonnet(
            1000, 9000, 2000, 800
        ),
        # 1200 output includes 500 reasoning tokens, priced at the output rate.
        "copilot:s-store-1:store:2@2026-08-20T10:01:00.000Z": (
            1000 * GPT_5["input"] + 4000 * GPT_5["cache_read"] + 1200 * GPT_5["output"]
        ),
        "copilot:s-store-2:store:4@2026-08-21 08:00:00": (
            3000 * HAIKU_45["input"] + 100 * HAIKU_45["output"]
        ),
    }
    usage_lines = {
        "copilot:s-legacy-usage:usage:b3": (
            1000 * GPT_5_MINI["input"] + 1000 * GPT_5_MINI["cache_read"]
            + 300 * GPT_5_MINI["output"]
        ),
        "copilot:s-legacy-usage:usage:b5": (
            500 * GPT_5_MINI["input"] + 2000 * GPT_5_MINI["cache_read"]
            + 100 * GPT_5_MINI["output"]
        ),
    }  # fmt: skip
    legs = {
        "copilot:s-legacy-legs:shutdown:c2:claude-sonnet-4.5": sonnet(
            3000, 6000, 1000, 1000
        ),
        # Second leg minus the first: 6000 input, 4000 reads, 500 writes, 500 output.
        "copilot:s-legacy-legs:shutdown:c4:claude-sonnet-4.5": sonnet(
            1500, 4000, 500, 500
        ),
        # After a compaction the counters restart, so the leg is taken whole.
        "copilot:s-legacy-legs:shutdown:c7:claude-sonnet-4.5": sonnet(
            1000, 1000, 0, 200
        ),
    }
    spans = {
        "copilot:otel:chat-1": sonnet(2000, 15000, 3000, 600),
        "copilot:otel:chat-2": 800 * GPT_41["input"] + 50 * GPT_41["output"],
    }
    expected = {**store_rows, **usage_lines, **legs, **spans}
    assert costs == expected
    assert sum(expected.values()) == Decimal("0.127375")
    assert summary.cost_usd == Decimal("0.127375")
    assert summary.events == 10
    assert summary.bad_lines == 2
    assert summary.files == 5


def test_copilot_store_events_keep_credits(
    tmp_path: Path, store: Store, registry: PricingRegistry
) -> None:
    cli, _ = build_copilot_home(tmp_path)

    ImportRun(store, registry, CopilotImporter()).run([cli])

    rows = store.query_dicts(
        "SELECT event_id, model_requested, model, project, git_repo, git_branch, "
        "latency_ms, attributes FROM cost_events FINAL "
        "WHERE session_id = 's-store-1' ORDER BY ts"
    )
    first, second = rows
    assert first["model_requested"] == "claude-sonnet-4.5"
    assert first["model"] == "claude-sonnet-4-5"
    assert first["project"] == "api"
    assert first["git_repo"] == "octo/api"
    assert first["git_branch"] == "main"
    assert first["latency_ms"] == 4200
    assert first["attributes"]["ai_credits"] == "1.5"
    assert first["attributes"]["premium_request_multiplier"] == "1.0"
    assert second["attributes"]["ai_credits"] == "0.4"
    assert second["attributes"]["initiator"] == "agent"


def test_copilot_store_owns_logged_session(tmp_path: Path) -> None:
    cli, _ = build_copilot_home(tmp_path)
    log = cli / "session-state" / "s-store-1" / "events.jsonl"

    owned = CopilotImporter().parse(log, 0, {})
    (cli / "session-store.db").unlink()
    alone = CopilotImporter().parse(log, 0, {})

    assert owned.events == []
    assert owned.offset == log.stat().st_size
    assert owned.state["owned_by_store"] is True
    assert len(alone.events) == 1
    assert alone.events[0].event_id == "copilot:s-store-1:usage:a2"


def test_copilot_store_reads_new_rows(tmp_path: Path) -> None:
    cli, _ = build_copilot_home(tmp_path)
    database = cli / "session-store.db"
    first = CopilotImporter().parse(database, 0, {})
    connection = sqlite3.connect(database)
    connection.execute(
        "INSERT INTO assistant_usage_events (session_id, model, input_tokens, "
        "output_tokens, cache_read_tokens, cache_write_tokens, created_at) "
        "VALUES ('s-store-2', 'gpt-5', 400, 40, 0, 0, '2026-08-21T09:00:00Z')"
    )
    connection.commit()
    connection.close()

    second = CopilotImporter().parse(database, 0, first.state)

    assert first.state == {"last_rowid": 4}
    assert len(first.events) == 3
    assert [event.event_id for event in second.events] == [
        "copilot:s-store-2:store:5@2026-08-21T09:00:00Z"
    ]
    assert second.state == {"last_rowid": 5}


def test_copilot_log_resumes_midway(tmp_path: Path) -> None:
    cli, _ = build_copilot_home(tmp_path)
    log = cli / "session-state" / "s-legacy-legs" / "events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2]))
    head = CopilotImporter().parse(log, 0, {})
    log.write_bytes(b"".join(lines))

    tail = CopilotImporter().parse(log, head.offset, head.state)

    assert [event.event_id for event in head.events] == [
        "copilot:s-legacy-legs:shutdown:c2:claude-sonnet-4.5"
    ]
    # The second leg is still the difference from the first, read from state.
    second_leg = tail.events[0]
    assert [event.event_id for event in tail.events] == [
        "copilot:s-legacy-legs:shutdown:c4:claude-sonnet-4.5",
        "copilot:s-legacy-legs:shutdown:c7:claude-sonnet-4.5",
    ]
    assert second_leg.usage.prompt_tokens == 6000


def test_copilot_roots_follow_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    home = Path.home()
    default = CopilotImporter().default_roots()
    monkeypatch.setenv("COPILOT_HOME", str(tmp_path / "copilot-home"))
    copilot_home = CopilotImporter().default_roots()
    monkeypatch.setenv("OTEL_COST_COPILOT_DIR", str(tmp_path / "ours"))
    monkeypatch.setenv("OTEL_COST_COPILOT_VSCODE_DIR", str(tmp_path / "User"))
    ours = CopilotImporter().default_roots()

    assert default == [
        home / ".copilot",
        home / ".config" / "Code" / "User",
        home / ".config" / "Code - Insiders" / "User",
        home / ".config" / "VSCodium" / "User",
    ]
    assert copilot_home[0] == tmp_path / "copilot-home"
    assert ours == [tmp_path / "ours", tmp_path / "User"]


def test_copilot_discovers_profile_traces(tmp_path: Path) -> None:
    _, user = build_copilot_home(tmp_path)
    profile = user / "profiles" / "1a2b3c" / "globalStorage" / "github.copilot-chat"
    profile.mkdir(parents=True)
    _run_sql(profile / "agent-traces.db", FIXTURES / "agent-traces.sql")

    found = list(CopilotImporter().discover(user))

    assert found == [
        user / "globalStorage" / "github.copilot-chat" / "agent-traces.db",
        profile / "agent-traces.db",
    ]
