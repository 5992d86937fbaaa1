"""Hook payloads of each agent, read into gate actions and answered in its own shape.

Claude Code (PreToolUse, UserPromptSubmit) and Codex (same event names, a
subset of the fields) deny a tool with ``hookSpecificOutput.permissionDecision``
and block a prompt with a top-level ``decision: "block"``. Gemini CLI's
BeforeModel hook blocks with ``decision: "deny"``. An allowed action gets ``{}``
so the hook never grants a permission the user would otherwise be asked for.

Prompt text is measured and then dropped: nothing here keeps or logs it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from otel_cost.budgets.actions import BYTES_PER_TOKEN, Action, ActionKind, Verdict
from otel_cost.errors import OtelCostError

# Enough for the last few entries of a transcript; a line that starts before
# the window is skipped, not misread.
TRANSCRIPT_TAIL_BYTES = 256 * 1024
# Read with a line limit: bytes assumed per line (an estimate).
AVERAGE_LINE_BYTES = 60
READ_TOOLS = frozenset({"Read", "read_file"})
EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit", "apply_patch"})


class HookInputError(OtelCostError):
    """A hook payload is not the JSON object the agent documents."""


def tokens_of(text: str) -> int:
    """Return the estimated token count of a text."""
    return (len(text.encode("utf-8")) + BYTES_PER_TOKEN - 1) // BYTES_PER_TOKEN


def _read_size(tool_input: dict[str, Any]) -> tuple[int, str]:
    path = Path(str(tool_input.get("file_path", "")))
    try:
        size = os.stat(path).st_size
    except OSError:
        return 0, f"reading {path.name or 'a file'}"
    limit = tool_input.get("limit")
    if isinstance(limit, int) and limit > 0:
        size = min(size, limit * AVERAGE_LINE_BYTES)
    return size, f"reading {path.name} ({size} byte{'' if size == 1 else 's'})"


def _edit_bytes(tool_input: dict[str, Any]) -> int:
    texts = [
        tool_input.get(key) for key in ("content", "new_string", "new_source", "input")
    ]
    for edit in tool_input.get("edits") or []:
        if isinstance(edit, dict):
            texts.append(edit.get("new_string"))
    return sum(len(text.encode("utf-8")) for text in texts if isinstance(text, str))


def tool_action(payload: dict[str, Any], harness: str) -> Action:
    """Return the action of a PreToolUse payload (Claude Code or Codex)."""
    tool = str(payload.get("tool_name", ""))
    tool_input = payload.get("tool_input") or {}
    if not isinstance(tool_input, dict):
        tool_input = {}
    common = _common(payload, harness)
    if tool in READ_TOOLS:
        size, label = _read_size(tool_input)
        return Action(
            ActionKind.FILE_READ,
            added_tokens=size // BYTES_PER_TOKEN,
            label=label,
            **common,
        )
    command = tool_input.get("command")
    if tool in EDIT_TOOLS or (isinstance(command, str) and "apply_patch" in command):
        size = _edit_bytes(tool_input) or len(str(command or "").encode("utf-8"))
        return Action(
            ActionKind.EDIT,
            added_tokens=size // BYTES_PER_TOKEN,
            label=f"{tool} edit ({size} byte{'' if size == 1 else 's'})",
            **common,
        )
    size = len(str(command or "").encode("utf-8"))
    return Action(
        ActionKind.TOOL,
        added_tokens=size // BYTES_PER_TOKEN,
        label=f"{tool or 'tool'} call",
        **common,
    )


def prompt_action(payload: dict[str, Any], harness: str) -> Action:
    """Return the action of a UserPromptSubmit payload; the prompt is only measured."""
    prompt = payload.get("prompt")
    added = tokens_of(prompt) if isinstance(prompt, str) else 0
    return Action(
        ActionKind.PROMPT,
        added_tokens=added,
        label="this prompt",
        **_common(payload, harness),
    )


def model_action(payload: dict[str, Any], harness: str) -> Action:
    """Return the action of a Gemini CLI BeforeModel payload (the whole request)."""
    request = payload.get("llm_request") or {}
    messages = request.get("messages") if isinstance(request, dict) else None
    total = 0
    for message in messages or []:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            total += tokens_of(message["content"])
    common = _common(payload, harness)
    if isinstance(request, dict) and isinstance(request.get("model"), str):
        common["model"] = request["model"]
    return Action(
        ActionKind.MODEL_CALL,
        request_tokens=total,
        label=f"a {total}-token model request",
        **common,
    )


def _common(payload: dict[str, Any], harness: str) -> dict[str, Any]:
    model = payload.get("model")
    common: dict[str, Any] = {
        "harness": harness,
        "session_id": str(payload.get("session_id") or ""),
        "cwd": str(payload.get("cwd") or ""),
        "model": model if isinstance(model, str) else "",
    }
    transcript = payload.get("transcript_path")
    if harness == "claude-code" and isinstance(transcript, str) and transcript:
        latest = transcript_context(Path(transcript))
        if latest is not None:
            common["model"] = common["model"] or latest[0]
            common["context_tokens"] = latest[1]
    return common


def transcript_context(path: Path) -> tuple[str, int] | None:
    """Return the model and prompt tokens of the last call in a Claude Code transcript.

    Only the model and usage numbers of the last assistant entry are used, from
    the last `TRANSCRIPT_TAIL_BYTES` of the file. None when the file or entry is
    missing.
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - TRANSCRIPT_TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        entry = _json_object(line)
        message = entry.get("message") if entry.get("type") == "assistant" else None
        if not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
            continue
        model = message.get("model")
        if not isinstance(model, str) or model.startswith("<"):
            continue
        usage = message["usage"]
        keys = (
            "input_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        )
        counts = [usage.get(key) for key in keys]
        return model, sum(count for count in counts if isinstance(count, int))
    return None


def _json_object(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def tool_answer(event: str) -> Callable[[Verdict, str], dict[str, Any]]:
    """Return the renderer of a PreToolUse answer for ``event``."""

    def render(verdict: Verdict, message: str) -> dict[str, Any]:
        if verdict is Verdict.ALLOW:
            return {}
        specific: dict[str, Any] = {"hookEventName": event}
        if verdict is Verdict.DENY:
            specific["permissionDecision"] = "deny"
            specific["permissionDecisionReason"] = message
        else:
            specific["additionalContext"] = message
        return {"systemMessage": message, "hookSpecificOutput": specific}

    return render


def prompt_answer(verdict: Verdict, message: str) -> dict[str, Any]:
    """Render a UserPromptSubmit answer: block the prompt or add a warning."""
    if verdict is Verdict.ALLOW:
        return {}
    if verdict is Verdict.DENY:
        return {"decision": "block", "reason": message}
    return {
        "systemMessage": message,
        "hookSpecificOutput": {
            "hookEventName": "UserPromptSubmit",
            "additionalContext": message,
        },
    }


def gemini_answer(verdict: Verdict, message: str) -> dict[str, Any]:
    """Render a Gemini CLI BeforeModel answer."""
    if verdict is Verdict.ALLOW:
        return {}
    if verdict is Verdict.DENY:
        return {"decision": "deny", "reason": message, "systemMessage": message}
    return {"systemMessage": message}


Reader = Callable[[dict[str, Any], str], Action]
Renderer = Callable[[Verdict, str], dict[str, Any]]

#: (agent, event) -> harness name, payload reader, answer renderer.
HOOK_EVENTS: dict[tuple[str, str], tuple[str, Reader, Renderer]] = {
    ("claude-code", "pretooluse"): (
        "claude-code",
        tool_action,
        tool_answer("PreToolUse"),
    ),
    ("claude-code", "userpromptsubmit"): ("claude-code", prompt_action, prompt_answer),
    ("codex", "pretooluse"): ("codex", tool_action, tool_answer("PreToolUse")),
    ("codex", "userpromptsubmit"): ("codex", prompt_action, prompt_answer),
    ("gemini", "beforemodel"): ("gemini", model_action, gemini_answer),
}
