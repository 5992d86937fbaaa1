"""Agent hooks: payloads in, each agent's response shape out, failing open, installers."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from otel_cost.budgets.agents import model_action, prompt_action, tool_action
from otel_cost.budgets.hookrun import GATE_PATH, gate_endpoint, run_hook
from otel_cost.budgets.install import HOOK_MODULE, install_hooks, uninstall_hooks
from otel_cost.budgets.ledger import read_audit
from otel_cost.cli.main import cli
from otel_cost.events import CostEvent, CostStatus, TokenCategory, Usage
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store import Store
from otel_cost.store.writer import write_events


@pytest.fixture
def budgets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(
        "envelopes:\n"
        "  - {name: dev, scope: session, limit_usd: '0.05'}\n"
        "  - {name: repo, scope: project, limit_usd: '0.01', match: {harness: gemini}}\n"
    )
    monkeypatch.setenv("OTEL_COST_BUDGETS_FILE", str(path))
    return path


def spent(store: Store, session: str, cost: str) -> None:
    usage = Usage({TokenCategory.CACHE_READ: 10000, TokenCategory.OUTPUT: 500})
    event = CostEvent(
        event_id=f"h-{session}", ts=datetime.now(UTC), harness="claude-code",
        source="test", session_id=session, project="web", model="claude-sonnet-4-5",
        usage=usage, cost_usd=Decimal(cost), cost_status=CostStatus.PRICED,
    )  # fmt: skip
    write_events(store, [event])


def test_claude_read_payload_measures_file(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * 40_000)
    payload = {"session_id": "s1", "cwd": "/w/web", "tool_name": "Read",
               "tool_input": {"file_path": str(big)}}  # fmt: skip
    action = tool_action(payload, "claude-code")
    assert action.kind.value == "file_read"
    assert action.added_tokens == 10_000
    assert action.label == "reading big.json (40000 bytes)"
    limited = tool_action({**payload, "tool_input": {"file_path": str(big), "limit": 100}},
                          "claude-code")  # fmt: skip
    assert limited.added_tokens == 1500  # 100 lines x 60 bytes / 4


def test_multi_edit_counts_new_text() -> None:
    payload = {"tool_name": "MultiEdit", "tool_input": {"file_path": "a.py", "edits": [
        {"old_string": "a", "new_string": "b" * 400},
        {"old_string": "c", "new_string": "d" * 800}]}}  # fmt: skip
    action = tool_action(payload, "claude-code")
    assert action.kind.value == "edit"
    assert action.added_tokens == 300


def test_prompt_is_measured_not_kept() -> None:
    action = prompt_action({"session_id": "s", "prompt": "é" * 10}, "codex")
    assert action.added_tokens == 5  # 20 UTF-8 bytes
    assert "é" not in json.dumps(action.to_dict())


def test_gemini_request_tokens_and_model() -> None:
    payload = {
        "session_id": "g",
        "llm_request": {
            "model": "gemini-2.5-pro",
            "messages": [
                {"role": "user", "content": "a" * 3000},
                {"role": "model", "content": "b" * 1000},
            ],
        },
    }
    action = model_action(payload, "gemini")  # fmt: skip
    assert action.request_tokens == 1000
    assert action.model == "gemini-2.5-pro"


def test_claude_pretooluse_denies_with_reason(store: Store, budgets: Path) -> None:
    spent(store, "s1", "0.042")
    payload = {"session_id": "s1", "hook_event_name": "PreToolUse", "cwd": "/w/web",
               "tool_name": "Bash", "tool_input": {"command": "ls"}}  # fmt: skip

    result = run_hook("claude-code", "pretooluse", json.dumps(payload))

    specific = result.answer["hookSpecificOutput"]
    assert specific["hookEventName"] == "PreToolUse"
    assert specific["permissionDecision"] == "deny"
    # 10,000 cached x $0.30/M + 500 output x $15/M = $0.0105 ("ls" adds no token).
    assert "Bash call is estimated at $0.0105" in specific["permissionDecisionReason"]
    assert "spent $0.04 of $0.05" in specific["permissionDecisionReason"]
    assert result.answer["systemMessage"] == specific["permissionDecisionReason"]
    assert result.exit_code == 0
    assert [row["action"] for row in read_audit(store)] == ["denial"]


def test_claude_prompt_warns_then_blocks(store: Store, budgets: Path) -> None:
    spent(store, "s2", "0.03")
    payload = {
        "session_id": "s2",
        "hook_event_name": "UserPromptSubmit",
        "prompt": "hi",
    }
    warned = run_hook("claude-code", "userpromptsubmit", json.dumps(payload)).answer
    assert warned["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    assert "would be at 81%" in warned["hookSpecificOutput"]["additionalContext"]
    assert "decision" not in warned

    spent(store, "s3", "0.05")
    blocked = run_hook("codex", "userpromptsubmit",
                       json.dumps({**payload, "session_id": "s3"})).answer  # fmt: skip
    assert blocked["decision"] == "block"
    assert "otel-cost budget override --session s3" in blocked["reason"]


def test_gemini_beforemodel_denies(store: Store, budgets: Path) -> None:
    payload = {
        "session_id": "g1",
        "cwd": "/w/repo",
        "hook_event_name": "BeforeModel",
        "llm_request": {
            "model": "gemini-2.5-pro",
            "messages": [{"role": "user", "content": "a" * 4000}],
        },
    }
    answer = run_hook("gemini", "beforemodel", json.dumps(payload)).answer  # fmt: skip
    assert answer["decision"] == "deny"
    assert "estimated at $0.0115" in answer["reason"]  # 0.01149 at display precision
    assert "envelope 'repo'" in answer["reason"]


def test_allowed_action_answers_empty(store: Store, budgets: Path) -> None:
    payload = {
        "session_id": "fresh",
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
    }
    result = run_hook("claude-code", "pretooluse", json.dumps(payload))
    assert result.answer == {}
    assert result.stderr == ""


@pytest.mark.parametrize("stdin", ["not json", "[1, 2]"])
def test_bad_input_fails_open(budgets: Path, stdin: str) -> None:
    result = run_hook("claude-code", "pretooluse", stdin)
    assert result.answer == {}
    assert result.exit_code == 0
    assert result.stderr.startswith(
        "otel-cost budget gate failed open (action allowed):"
    )


def test_broken_budgets_file_fails_open(budgets: Path) -> None:
    budgets.write_text("envelopes: [{name: x}]\n")
    result = run_hook("claude-code", "pretooluse", "{}")
    assert result.answer == {}
    assert "'scope' is a required property" in result.stderr


def _hook_process(
    env_extra: dict[str, str], stdin: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, **env_extra}
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", HOOK_MODULE, "claude-code", "pretooluse"],
        input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    return process, time.perf_counter() - started


def test_hook_process_without_budgets(tmp_path: Path) -> None:
    process, seconds = _hook_process(
        {"OTEL_COST_BUDGETS_FILE": str(tmp_path / "none.yaml")}, '{"session_id": "s"}'
    )
    assert process.returncode == 0
    assert json.loads(process.stdout) == {}
    assert process.stderr == ""
    assert seconds < 5  # generous for CI; measured 0.07-0.16 s on a loaded dev machine


def test_hook_process_fails_open_on_locked_store(store: Store, budgets: Path) -> None:
    # This test process has the embedded store open, so the hook process cannot.
    process, _ = _hook_process({}, '{"session_id": "s1", "tool_name": "Bash"}')
    assert process.returncode == 0
    assert json.loads(process.stdout) == {}
    assert "failed open (action allowed)" in process.stderr
    assert "in use by another otel-cost process" in process.stderr


def test_install_keeps_existing_hooks(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    existing = {
        "model": "opus",
        "hooks": {
            "PreToolUse": [
                {
                    "matcher": "Bash",
                    "hooks": [{"type": "command", "command": "lint.sh"}],
                }
            ]
        },
    }
    path.write_text(json.dumps(existing))  # fmt: skip

    assert install_hooks("claude-code", path) == [
        "PreToolUse",
        "UserPromptSubmit",
        "Stop",
    ]
    assert install_hooks("claude-code", path) == []

    settings = json.loads(path.read_text())
    assert settings["model"] == "opus"
    groups = settings["hooks"]["PreToolUse"]
    assert groups[0] == existing["hooks"]["PreToolUse"][0]
    assert groups[1]["matcher"] == "*"
    assert groups[1]["hooks"][0]["command"].endswith(
        f"-m {HOOK_MODULE} claude-code pretooluse"
    )
    prompt_handler = settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]
    assert prompt_handler["command"].endswith("claude-code userpromptsubmit")

    assert sorted(uninstall_hooks("claude-code", path)) == [
        "PreToolUse",
        "Stop",
        "UserPromptSubmit",
    ]
    assert json.loads(path.read_text()) == existing


def test_cli_install_global_claude(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["hook", "install", "claude-code", "--global"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "home" / ".claude" / "settings.json"
    assert f"to {path}" in result.output
    assert "UserPromptSubmit" in json.loads(path.read_text())["hooks"]
    removed = CliRunner().invoke(cli, ["hook", "uninstall", "claude-code", "--global"])
    assert "removed the otel-cost gate" in removed.output
    assert json.loads(path.read_text()) == {}


def test_gemini_install_uses_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    install_hooks("gemini", path)
    handler = json.loads(path.read_text())["hooks"]["BeforeModel"][0]["hooks"][0]
    assert handler["timeout"] == 10000
    assert handler["command"].endswith("gemini beforemodel")


@pytest.fixture
def gate_service(
    store: Store, registry: PricingRegistry, tmp_path: Path
) -> Iterator[list[dict[str, Any]]]:
    """Serve the gate endpoint as ``otel-cost serve`` does, found by discovery."""
    bodies: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Service(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            self._reply({"status": "ok", "pid": os.getpid()})

        def do_POST(self) -> None:  # noqa: N802 - the http.server interface
            assert self.path == GATE_PATH
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            with lock:
                self._reply(gate_endpoint(store, registry, body))

        def _reply(self, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "serve.json").write_text(json.dumps({
        "pid": os.getpid(), "api_url": url, "otlp_http_url": url, "otlp_grpc_url": url,
    }))  # fmt: skip
    yield bodies
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(
    importlib.util.find_spec("otel_cost.serve.discovery") is None,
    reason="the serve package (service discovery) is not installed",
)
def test_hook_asks_running_service(
    store: Store, budgets: Path, gate_service: list[dict[str, Any]]
) -> None:
    spent(store, "s7", "0.045")
    payload = {"session_id": "s7", "tool_name": "Bash", "tool_input": {"command": "ls"}}

    process, seconds = _hook_process({}, json.dumps(payload))

    assert process.returncode == 0, process.stderr
    answer = json.loads(process.stdout)
    assert answer["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert gate_service[0]["session_id"] == "s7"
    assert gate_service[0]["kind"] == "tool"
    # This process has the store open, so only the service could have responded.
    assert process.stderr == ""
    assert seconds < 5  # generous for CI; measured 0.13-0.19 s on a loaded dev machine


def test_fresh_session_uses_transcript(
    store: Store, budgets: Path, tmp_path: Path
) -> None:
    transcript = tmp_path / "session.jsonl"
    entries = [
        {"type": "assistant", "message": {"model": "claude-opus-4-1", "usage": {
            "input_tokens": 5, "output_tokens": 9}}},
        {"type": "assistant", "message": {"model": "claude-sonnet-4-5-20250929",
         "usage": {"input_tokens": 10, "cache_read_input_tokens": 20000,
                   "cache_creation_input_tokens": 500, "output_tokens": 300}}},
        {"type": "user", "message": {"role": "user", "content": "next"}},
    ]  # fmt: skip
    transcript.write_text("\n".join(json.dumps(entry) for entry in entries) + "\n")
    source = tmp_path / "notes.md"
    source.write_bytes(b"n" * 4000)
    budgets.write_text(
        "envelopes:\n  - {name: dev, scope: session, limit_usd: '0.02'}\n"
    )
    payload = {"session_id": "new-1", "transcript_path": str(transcript),
               "tool_name": "Read", "tool_input": {"file_path": str(source)}}  # fmt: skip

    action = tool_action(payload, "claude-code")
    reason = run_hook("claude-code", "pretooluse", json.dumps(payload)).answer[
        "hookSpecificOutput"
    ]["permissionDecisionReason"]

    assert action.model == "claude-sonnet-4-5-20250929"
    assert action.context_tokens == 20510
    # 20,510 cached x $0.30/M + 1,000 new x $3/M + 1,024 default output x $15/M.
    assert "reading notes.md (4000 bytes) is estimated at $0.0245" in reason
    assert "would exceed envelope 'dev' (session new-1)" in reason
