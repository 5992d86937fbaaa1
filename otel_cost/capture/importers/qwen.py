"""Qwen Code chats: ``~/.qwen/projects/<project>/chats/<session>.jsonl``.

Qwen Code appends one JSON record per line. Each ``"type": "assistant"``
record with ``usageMetadata`` is one model response. The usage follows
Gemini's names because Qwen Code descends from Gemini CLI, whichever model
produced the response. ``/branch`` copies records into a new session file under
their original ``uuid``, so the event id is the record's ``uuid`` and a copy
never counts twice. ``system`` records are skipped, including the UI
telemetry ones that repeat each response's token counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from otel_cost import config
from otel_cost.capture.importers.base import Importer, ParseResult, env_path, read_tail
from otel_cost.capture.importers.record_fields import (
    RECORD_ERRORS,
    RecordError,
    as_mapping,
    iso_time,
    project_name,
    text,
    tokens,
)
from otel_cost.events import CostEvent, Usage
from otel_cost.normalise.usage import from_gemini

logger = logging.getLogger(__name__)

HARNESS = "qwen-code"
CHAT_GLOB = "*/chats/**/*.jsonl"
# Qwen Code's auth types, mapped to the provider that bills the request.
AUTH_PROVIDERS = {
    "qwen-oauth": "qwen",
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini-api-key": "gcp.gemini",
    "vertex-ai": "gcp.vertex_ai",
}


class QwenCodeImporter(Importer):
    """Imports Qwen Code chat records, reading only what was appended."""

    name = HARNESS

    def default_roots(self) -> list[Path]:
        """Return ``$QWEN_RUNTIME_DIR``, else ``$QWEN_HOME``, else ``~/.qwen``."""
        for variable in (config.ENV_QWEN_RUNTIME_DIR, config.ENV_QWEN_HOME):
            override = env_path(variable)
            if override is not None:
                return [override]
        return [config.home() / ".qwen"]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield chat files under ``<root>/projects`` (or ``root`` itself)."""
        projects = root / "projects" if (root / "projects").is_dir() else root
        yield from sorted(projects.glob(CHAT_GLOB))

    def parse(self, path: Path, start: int, state: dict[str, Any]) -> ParseResult:
        """Read the complete lines appended after ``start``."""
        data, end = read_tail(path, start)
        context = dict(state)
        result = ParseResult(offset=end, state=context)
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                event = record_event(as_mapping(orjson.loads(line), "record"), context)
            except RECORD_ERRORS as exc:
                result.add_error(f"line {number} after byte {start}: {exc}")
                continue
            if event is not None:
                result.events.append(event)
        return result


def record_event(
    record: Mapping[str, Any], context: dict[str, Any]
) -> CostEvent | None:
    """Return the event of an assistant record, remembering session details.

    ``context`` keeps the working directory, branch and provider seen so far
    in the file, for records that do not repeat them.
    """
    _remember(record, context)
    if record.get("type") != "assistant" or record.get("usageMetadata") is None:
        return None
    usage = qwen_usage(as_mapping(record["usageMetadata"], "usageMetadata"))
    if usage.total_tokens == 0:
        return None
    uuid = text(record.get("uuid"))
    if not uuid:
        raise RecordError("assistant record has no uuid")
    model = text(record.get("model"))
    cwd = context.get("cwd", "")
    return CostEvent(
        event_id=f"{HARNESS}:{uuid}",
        ts=iso_time(record.get("timestamp"), "timestamp"),
        harness=HARNESS,
        source="import",
        session_id=text(record.get("sessionId")),
        parent_session_id=_forked_from(record),
        provider=context.get("provider") or _provider_from_model(model),
        model_requested=model,
        model=model,
        project=project_name(cwd),
        git_branch=context.get("git_branch", ""),
        usage=usage,
        attributes=_attributes(record, cwd),
    )


def qwen_usage(metadata: Mapping[str, Any]) -> Usage:
    """Convert a Qwen Code ``usageMetadata`` into canonical categories.

    Gemini's convention applies: ``promptTokenCount`` includes
    ``cachedContentTokenCount``, which is taken out of input. Gemini reports
    ``thoughtsTokenCount`` outside ``candidatesTokenCount``, but Qwen Code's
    OpenAI-compatible path can leave reasoning inside the candidates. Such
    records are recognised by ``totalTokenCount`` equal to prompt plus
    candidates, and their thoughts are then taken out of the candidates.
    """
    # NOTE: the inside-candidates case is inferred from OpenAI's convention
    # (reasoning is part of completion_tokens); Qwen Code's converter itself
    # was not checked, so the totalTokenCount test decides per record.
    prompt = tokens(metadata, "promptTokenCount")
    cached = tokens(metadata, "cachedContentTokenCount")
    candidates = tokens(metadata, "candidatesTokenCount")
    thoughts = tokens(metadata, "thoughtsTokenCount")
    total = metadata.get("totalTokenCount")
    if thoughts and total == prompt + candidates and candidates >= thoughts:
        candidates -= thoughts
    return from_gemini(
        {
            "promptTokenCount": prompt,
            "cachedContentTokenCount": cached,
            "candidatesTokenCount": candidates,
            "thoughtsTokenCount": thoughts,
        }
    )


def _remember(record: Mapping[str, Any], context: dict[str, Any]) -> None:
    if text(record.get("cwd")):
        context["cwd"] = text(record["cwd"])
    if text(record.get("gitBranch")):
        context["git_branch"] = text(record["gitBranch"])
    if record.get("subtype") == "session_model":
        payload = record.get("systemPayload")
        if isinstance(payload, Mapping) and text(payload.get("authType")):
            auth = text(payload["authType"])
            context["provider"] = AUTH_PROVIDERS.get(auth, auth)


def _provider_from_model(model: str) -> str:
    # Without a recorded auth type, only a Qwen model name identifies its provider.
    return "qwen" if model.lower().startswith("qwen") else ""


def _forked_from(record: Mapping[str, Any]) -> str:
    origin = record.get("forkedFrom")
    return text(origin.get("sessionId")) if isinstance(origin, Mapping) else ""


def _attributes(record: Mapping[str, Any], cwd: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    if cwd:
        attributes["cwd"] = cwd
    if record.get("isSidechain") is True:
        attributes["subagent"] = text(record.get("agentName")) or "subagent"
    version = text(record.get("version"))
    if version:
        attributes["qwen_code_version"] = version
    return attributes
