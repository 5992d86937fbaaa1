"""Hook calls emit the new usage of a growing transcript, once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from otel_cost.capture.hooks import record_hook
from otel_cost.capture.importers.codex import CodexImporter
from otel_cost.capture.importers.gemini import GeminiImporter
from otel_cost.capture.sink import StoreSink
from otel_cost.events import CostEvent
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store

SESSION = "0b7e5a52-9c11-4d7e-8a35-6f20c1d2e3f4"
SONNET = "claude-sonnet-4-5-20250929"
CODEX_ROLLOUTS = Path(__file__).parent / "fixtures" / "codex" / "home" / "sessions"
GEMINI_CHATS = (
    Path(__file__).parent / "fixtures" / "gemini" / "home" / ".gemini" / "tmp"
)


def _assistant(message_id: str, ts: str, usage: dict[str, int]) -> str:
    record = {
        "type": "assistant", "sessionId": SESSION, "cwd": "/home/bo/src/shop",
        "gitBranch": "main", "uuid": f"u-{message_id}-{ts}", "timestamp": ts,
        "requestId": f"req_{message_id}",
        "message": {"id": message_id, "type": "message", "role": "assistant",
                    "model": SONNET, "content": [], "usage": usage},
    }  # fmt: skip
    return json.dumps(record) + "\n"


def _payload(transcript: Path, event: str = "Stop") -> dict[str, Any]:
    # The fields Claude Code sends on stdin to a Stop hook.
    return {
        "session_id": SESSION, "transcript_path": str(transcript),
        "cwd": "/home/bo/src/shop", "permission_mode": "default",
        "hook_event_name": event, "stop_hook_active": False,
    }  # fmt: skip


def _stored(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.query_dicts("SELECT * FROM cost_events FINAL WHERE source = 'hook'")
    return {row["event_id"]: row for row in rows}


def test_hook_reads_growing_transcript(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    transcript = tmp_path / f"{SESSION}.jsonl"
    user = {"type": "user", "sessionId": SESSION, "cwd": "/home/bo/src/shop",
            "timestamp": "2026-08-20T10:00:00Z", "message": {"role": "user",
            "content": "fix the cart"}}  # fmt: skip
    transcript.write_text(
        json.dumps(user) + "\n"
        + _assistant("msg_a", "2026-08-20T10:00:02Z",
                     {"input_tokens": 100, "cache_read_input_tokens": 2000,
                      "output_tokens": 5})
    )  # fmt: skip
    first = record_hook("claude-code", _payload(transcript), StoreSink, registry)
    assert first.events == 1
    # 100 x 3e-6 + 2000 x 3e-7 + 5 x 1.5e-5
    assert _stored(store)["claude-code:msg_a"]["cost_usd"] == Decimal("0.000975")

    with transcript.open("a") as handle:
        # The streamed response is written again with its final usage, then a new one.
        handle.write(_assistant("msg_a", "2026-08-20T10:00:09Z",
                                {"input_tokens": 100, "cache_read_input_tokens": 2000,
                                 "output_tokens": 300}))  # fmt: skip
        handle.write(_assistant("msg_b", "2026-08-20T10:01:00Z",
                                {"input_tokens": 40, "output_tokens": 20}))  # fmt: skip
    second = record_hook("claude-code", _payload(transcript), StoreSink, registry)
    assert second.events == 2
    rows = _stored(store)
    assert set(rows) == {"claude-code:msg_a", "claude-code:msg_b"}
    # 100 x 3e-6 + 2000 x 3e-7 + 300 x 1.5e-5
    assert rows["claude-code:msg_a"]["cost_usd"] == Decimal("0.0054")
    assert rows["claude-code:msg_a"]["output_tokens"] == 300
    # 40 x 3e-6 + 20 x 1.5e-5
    assert rows["claude-code:msg_b"]["cost_usd"] == Decimal("0.00042")
    assert rows["claude-code:msg_b"]["session_id"] == SESSION

    third = record_hook(
        "claude-code", _payload(transcript, "SessionEnd"), StoreSink, registry
    )
    assert third.events == 0
    total = store.query(
        "SELECT sum(cost_usd) FROM cost_events FINAL WHERE source = 'hook'"
    )
    assert total[0][0] == Decimal("0.00582")


class FailingSink:
    """A sink whose store is down."""

    target = "down"

    def write(self, events: Sequence[CostEvent]) -> None:
        raise OSError("store unavailable")

    def close(self) -> None:
        pass


def test_hook_retries_after_failed_write(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    transcript = tmp_path / f"{SESSION}.jsonl"
    transcript.write_text(_assistant("msg_c", "2026-08-20T11:00:00Z",
                                     {"input_tokens": 10, "output_tokens": 10}))  # fmt: skip
    failed = record_hook("claude-code", _payload(transcript), FailingSink, registry)
    assert failed.events == 0
    assert failed.error == "OSError: store unavailable"
    retried = record_hook("claude-code", _payload(transcript), StoreSink, registry)
    assert retried.events == 1
    # 10 x 3e-6 + 10 x 1.5e-5
    assert _stored(store)["claude-code:msg_c"]["cost_usd"] == Decimal("0.00018")


def test_hook_skips_without_transcript(
    registry: PricingRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert record_hook(
        "claude-code", {"session_id": "s"}, FailingSink, registry
    ).skipped == ("the hook input has no transcript_path")
    missing = _payload(tmp_path / "later.jsonl")
    assert record_hook("claude-code", missing, FailingSink, registry).skipped == (
        "the transcript does not exist yet"
    )
    assert record_hook("cursor", missing, FailingSink, registry).skipped == (
        "unknown agent 'cursor'"
    )
    monkeypatch.setenv("OTEL_COST_PROXY_URL", "http://127.0.0.1:7000")
    transcript = tmp_path / "now.jsonl"
    transcript.write_text("")
    assert record_hook(
        "claude-code", _payload(transcript), FailingSink, registry
    ).skipped == ("the instrument proxy records this session")


def test_hook_reads_codex_rollout(store: Store, registry: PricingRegistry) -> None:
    rollout = sorted(CODEX_ROLLOUTS.rglob("rollout-*.jsonl"))[0]
    expected = CodexImporter().parse(rollout, 0, {}).events
    assert expected
    payload = {
        "session_id": "x",
        "transcript_path": str(rollout),
        "hook_event_name": "Stop",
    }
    result = record_hook("codex", payload, StoreSink, registry)
    assert result.events == len(expected)
    rows = _stored(store)
    assert set(rows) == {event.event_id for event in expected}
    again = record_hook("codex", payload, StoreSink, registry)
    assert again.events == 0


def test_hook_whole_file_session_once(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> None:
    # Older Gemini CLI sessions are one JSON document rewritten on every turn.
    source = next(GEMINI_CHATS.rglob("session-*.json"))
    transcript = tmp_path / source.name
    transcript.write_bytes(source.read_bytes())
    expected = GeminiImporter().parse(transcript, 0, {}).events
    assert expected
    payload = {"session_id": "g", "transcript_path": str(transcript),
               "hook_event_name": "AfterModel"}  # fmt: skip
    assert record_hook("gemini", payload, StoreSink, registry).events == len(expected)
    assert record_hook("gemini-cli", payload, StoreSink, registry).events == 0
    assert set(_stored(store)) == {event.event_id for event in expected}
