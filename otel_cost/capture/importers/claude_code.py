"""Claude Code transcripts: ``<config>/projects/<slug>/<session>.jsonl``.

Claude Code writes one line per content block of a streamed response, each
under the same ``message.id``, with usage that grows as the response streams.
Lines of one ``message.id`` are folded into one event (the maximum of each
field, at the first line's time). A resumed session copies earlier responses
into its new file under their original ids, and the store keeps the first
sighting, so copies never count twice. Subagent transcripts under
``<session>/subagents/**`` belong to the parent session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from otel_cost import config
from otel_cost.capture.importers.base import Importer, ParseResult, env_path, read_tail
from otel_cost.errors import UsageFormatError
from otel_cost.events import CostEvent, Usage
from otel_cost.normalise.usage import from_anthropic

logger = logging.getLogger(__name__)

HARNESS = "claude-code"
# Client-generated stubs (errors, interruptions) that never reached the API.
SYNTHETIC_MODEL = "<synthetic>"
ASSISTANT_MARKERS = (b'"type":"assistant"', b'"type": "assistant"')


class ClaudeCodeImporter(Importer):
    """Imports Claude Code JSONL transcripts, subagents included."""

    name = HARNESS

    def default_roots(self) -> list[Path]:
        """Return ``$CLAUDE_CONFIG_DIR`` (comma-separated allowed) or ``~/.claude``."""
        override = env_path(config.ENV_CLAUDE_CONFIG_DIR)
        if override is not None:
            return [
                Path(part).expanduser() for part in str(override).split(",") if part
            ]
        return [config.home() / ".claude"]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield transcripts under ``<root>/projects`` (or ``root`` itself)."""
        projects = root / "projects" if (root / "projects").is_dir() else root
        for project_dir in sorted(p for p in projects.iterdir() if p.is_dir()):
            yield from sorted(project_dir.glob("*.jsonl"))
            yield from sorted(project_dir.glob("*/subagents/**/*.jsonl"))

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Fold the new lines of one transcript into one event per response."""
        context = state or _file_context(path)
        data, end = read_tail(path, start)
        folded: dict[str, CostEvent] = {}
        result = ParseResult(offset=end, state=context)
        for number, line in enumerate(data.splitlines(), start=1):
            if not any(marker in line for marker in ASSISTANT_MARKERS):
                _remember_context(line, context)
                continue
            try:
                event = _parse_line(line, context)
            except (
                orjson.JSONDecodeError,
                UsageFormatError,
                ValueError,
                TypeError,
            ) as exc:
                result.add_error(f"line {number} (counting from byte {start}): {exc}")
                continue
            if event is None:
                continue
            seen = folded.get(event.event_id)
            folded[event.event_id] = event if seen is None else _fold(seen, event)
        result.events = list(folded.values())
        return result


def _file_context(path: Path) -> dict[str, Any]:
    # A subagent file's session is the directory that contains ``subagents``.
    parts = path.parts
    if "subagents" in parts:
        index = parts.index("subagents")
        return {
            "session_id": parts[index - 1],
            "project_slug": parts[index - 2],
            "subagent": path.stem,
        }
    return {"session_id": path.stem, "project_slug": path.parent.name, "subagent": ""}


def _remember_context(line: bytes, context: dict[str, Any]) -> None:
    # The working directory and branch appear on user lines too; keep the
    # first ones seen so the next assistant line is attributed.
    if "cwd" in context or b'"cwd"' not in line:
        return
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return
    if isinstance(record, dict) and isinstance(record.get("cwd"), str):
        context["cwd"] = record["cwd"]
        context["git_branch"] = record.get("gitBranch") or ""


def _parse_line(line: bytes, context: dict[str, Any]) -> CostEvent | None:
    record = orjson.loads(line)
    if not isinstance(record, dict) or record.get("type") != "assistant":
        return None
    message = record.get("message")
    if not isinstance(message, dict):
        return None
    model = message.get("model")
    usage_raw = message.get("usage")
    if not isinstance(model, str) or not isinstance(usage_raw, dict):
        return None
    if model == SYNTHETIC_MODEL:
        return None
    if "cwd" not in context and isinstance(record.get("cwd"), str):
        context["cwd"] = record["cwd"]
        context["git_branch"] = record.get("gitBranch") or ""
    timestamp = record.get("timestamp")
    if not isinstance(timestamp, str):
        raise ValueError("assistant line has no timestamp")
    ts = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {timestamp!r} has no UTC offset")
    return _event(record, message, model, from_anthropic(usage_raw), ts, context)


def _event(
    record: dict[str, Any],
    message: dict[str, Any],
    model: str,
    usage: Usage,
    ts: datetime,
    context: dict[str, Any],
) -> CostEvent:
    message_id = message.get("id")
    session_id = context["session_id"]
    if isinstance(message_id, str) and message_id:
        event_id = f"{HARNESS}:{message_id}"
    else:
        # Without a message id the line's own uuid is the only stable key.
        event_id = f"{HARNESS}:{session_id}:{record.get('uuid') or ts.isoformat()}"
    cwd = context.get("cwd") or ""
    attributes = {"cwd": cwd} if cwd else {}
    if context.get("subagent"):
        attributes["subagent"] = context["subagent"]
    request_id = record.get("requestId")
    if isinstance(request_id, str):
        attributes["request_id"] = request_id
    usage_raw = message.get("usage", {})
    if usage_raw.get("speed") == "fast":
        attributes["speed"] = "fast"
    tier = usage_raw.get("service_tier")
    return CostEvent(
        event_id=event_id,
        ts=ts,
        harness=HARNESS,
        source="import",
        session_id=session_id,
        provider="anthropic",
        model_requested=model,
        model=model,
        project=Path(cwd).name if cwd else context.get("project_slug", ""),
        git_branch=context.get("git_branch", ""),
        operation="chat",
        service_tier=tier if tier in ("priority", "batch", "flex") else "",
        usage=usage,
        attributes=attributes,
    )


def _fold(first: CostEvent, later: CostEvent) -> CostEvent:
    return first.replace(usage=first.usage.merge_max(later.usage))
