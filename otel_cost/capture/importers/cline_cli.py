"""Cline CLI sessions: ``~/.cline/data/sessions/<session>/<session>.messages.json``.

The file is one JSON object, rewritten whole, whose ``messages`` array contains
the conversation. Each assistant message with a ``metrics`` object is one
request: ``inputTokens`` (the whole input, cache reads and writes included),
``outputTokens``, ``cacheReadTokens``, ``cacheWriteTokens`` and Cline's own
``cost``. The sibling ``<session>.json`` manifest names the provider, the model
and the working directory for messages that do not carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from otel_cost.capture.importers.base import ParseResult
from otel_cost.capture.importers.record_fields import (
    RECORD_ERRORS,
    any_time,
    as_mapping,
    canonical_usage,
    cost_usd,
    project_name,
    read_json_object,
    text,
    tokens,
)
from otel_cost.events import CostEvent, TokenCategory, Usage

MESSAGES_SUFFIX = ".messages.json"


def parse_cli_session(path: Path, harness: str) -> ParseResult:
    """Read every request of one Cline CLI session file."""
    result = ParseResult(offset=path.stat().st_size)
    session_id = path.name.removesuffix(MESSAGES_SUFFIX)
    try:
        document = as_mapping(orjson.loads(path.read_bytes()), "session file")
    except RECORD_ERRORS as exc:
        result.add_error(f"cannot parse the session file: {exc}")
        return result
    messages = document.get("messages")
    if not isinstance(messages, list):
        result.add_error("the session file has no messages array")
        return result
    manifest = read_json_object(path.with_name(f"{session_id}.json"))
    context = _SessionContext(harness, session_id, manifest, _parent_id(document))
    for index, message in enumerate(messages):
        try:
            event = context.event(message, index)
        except RECORD_ERRORS as exc:
            result.add_error(f"message {index}: {exc}")
            continue
        if event is not None:
            result.events.append(event)
    return result


def _parent_id(document: Mapping[str, Any]) -> str:
    origin = document.get("origin")
    return text(origin.get("parentThreadId")) if isinstance(origin, Mapping) else ""


def cli_usage(metrics: Mapping[str, Any]) -> Usage:
    """Convert a message's ``metrics`` into canonical categories.

    ``inputTokens`` includes the cache reads and writes, so they are taken out
    of it by `cline_usage`.
    """
    # NOTE: "includes" follows a third-party importer's reading of Cline's SDK
    # documentation; no real Cline CLI session was available to check it.
    prompt = tokens(metrics, "inputTokens", "metrics.inputTokens")
    reads = tokens(metrics, "cacheReadTokens", "metrics.cacheReadTokens")
    writes = tokens(metrics, "cacheWriteTokens", "metrics.cacheWriteTokens")
    output = tokens(metrics, "outputTokens", "metrics.outputTokens")
    return cline_usage(prompt, output, reads, writes, inclusive=True)


def cline_usage(
    tokens_in: int, tokens_out: int, reads: int, writes: int, inclusive: bool
) -> Usage:
    """Convert Cline-family token counts into canonical categories.

    With ``inclusive`` the input count contains the cache reads and writes and
    they are taken out of it. An input smaller than its cache parts cannot
    contain them, so it is read as uncached input only: older Roo Code
    releases wrote Anthropic-protocol requests that way. Cache writes are
    priced as 5-minute writes, the provider default, because the entry does
    not say which lifetime was used.
    """
    uncached = tokens_in
    if inclusive and tokens_in >= reads + writes:
        uncached = tokens_in - reads - writes
    return canonical_usage(
        {
            TokenCategory.INPUT: uncached,
            TokenCategory.CACHE_READ: reads,
            TokenCategory.CACHE_WRITE_5M: writes,
            TokenCategory.OUTPUT: tokens_out,
        }
    )


class _SessionContext:
    def __init__(
        self, harness: str, session_id: str, manifest: Mapping[str, Any], parent: str
    ) -> None:
        self.harness = harness
        self.session_id = session_id
        self.manifest = manifest
        self.parent = parent
        self.workspace = text(manifest.get("workspace_root")) or text(
            manifest.get("cwd")
        )

    def event(self, message: Any, index: int) -> CostEvent | None:
        if not isinstance(message, Mapping) or message.get("role") != "assistant":
            return None
        if message.get("metrics") is None:
            return None
        metrics = as_mapping(message["metrics"], "metrics")
        usage = cli_usage(metrics)
        reported = cost_usd(metrics.get("cost"), "metrics.cost")
        if usage.total_tokens == 0 and not reported:
            return None
        model, provider = self._model(message)
        key = text(message.get("id")) or f"message-{index}"
        attributes = {"client": "cli"}
        if self.workspace:
            attributes["cwd"] = self.workspace
        return CostEvent(
            event_id=f"{self.harness}:{self.session_id}:{key}",
            ts=any_time(message.get("ts") or message.get("createdAt"), "ts"),
            harness=self.harness,
            source="import",
            session_id=self.session_id,
            parent_session_id=self.parent,
            provider=provider,
            model_requested=model,
            model=model,
            project=project_name(self.workspace),
            usage=usage,
            attributes=attributes,
            reported_cost_usd=reported,
        )

    def _model(self, message: Mapping[str, Any]) -> tuple[str, str]:
        info = message.get("modelInfo")
        info = info if isinstance(info, Mapping) else {}
        model = text(info.get("id")) or text(self.manifest.get("model"))
        provider = text(info.get("provider")) or text(self.manifest.get("provider"))
        return model, provider
