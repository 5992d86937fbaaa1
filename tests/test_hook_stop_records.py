"""The Claude Code Stop hook records the usage its transcript shows."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from click.testing import CliRunner

from otel_cost.cli.main import cli
from otel_cost.store import Store

TRANSCRIPT_LINE = {
    "type": "assistant",
    "timestamp": "2026-11-20T09:00:02.000Z",
    "sessionId": "sess-stop-1",
    "cwd": "/home/ana/src/shop",
    "message": {
        "id": "msg_stop_1",
        "model": "claude-opus-4-8",
        "usage": {"input_tokens": 1000, "output_tokens": 100},
    },
}


def test_stop_hook_records_usage(store: Store, tmp_path: Path) -> None:
    transcript = tmp_path / "sess-stop-1.jsonl"
    transcript.write_text(json.dumps(TRANSCRIPT_LINE) + "\n")
    payload = {
        "session_id": "sess-stop-1",
        "transcript_path": str(transcript),
        "hook_event_name": "Stop",
        "cwd": "/home/ana/src/shop",
    }
    result = CliRunner().invoke(
        cli, ["hook", "claude-code", "stop"], input=json.dumps(payload)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "{}"
    rows = store.query("SELECT event_id, cost_usd FROM cost_events FINAL")
    # claude-opus-4-8: 1000 x 5e-06 + 100 x 2.5e-05 = 0.0075
    assert rows == [("claude-code:msg_stop_1", D("0.0075"))]


def test_stop_hook_bad_input_allows(store: Store) -> None:
    result = CliRunner().invoke(cli, ["hook", "claude-code", "stop"], input="{not json")
    assert result.exit_code == 0
    assert result.stdout.strip() == "{}"
    assert "invalid hook input" in result.stderr


def test_hooks_status_after_install(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    runner = CliRunner()
    before = runner.invoke(
        cli, ["hooks", "status", "claude-code", "--settings-file", str(settings)]
    )
    assert "(not found)" in before.output
    assert "PreToolUse         not installed" in before.output
    runner.invoke(
        cli, ["hooks", "install", "claude-code", "--settings-file", str(settings)]
    )
    after = runner.invoke(
        cli, ["hooks", "status", "claude-code", "--settings-file", str(settings)]
    )
    assert after.exit_code == 0, after.output
    for event in ("PreToolUse", "UserPromptSubmit", "Stop"):
        assert f"{event:<18} installed" in after.output
