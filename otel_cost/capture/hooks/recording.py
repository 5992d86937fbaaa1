"""Turning one hook call into new cost events.

Claude Code, Codex and Gemini CLI hooks name the session transcript
(``transcript_path``) but carry no token counts. Each call reads the
transcript from where the previous call stopped, with the same parser and
event ids as ``otel-cost import``, and emits only events that are new or
whose usage grew (a streamed response is written more than once). Events go
to the running service, else into the store. Nothing here raises: a hook
must never break the agent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_cost import config
from otel_cost.capture.hooks.progress import ProgressBusyError, locked_progress
from otel_cost.capture.importers import get_importer
from otel_cost.capture.importers.base import (
    Importer,
    ParseResult,
    fingerprint,
    same_prefix,
)
from otel_cost.capture.sink import EventSink, open_sink
from otel_cost.events import CostEvent
from otel_cost.pricing.registry import PricingRegistry, load_registry

logger = logging.getLogger(__name__)

#: Agent names a hook command may use, mapped to importer (harness) names.
AGENT_HARNESSES = {
    "claude-code": "claude-code",
    "claude": "claude-code",
    "codex": "codex",
    "gemini": "gemini",
    "gemini-cli": "gemini",
}


@dataclass
class HookRecord:
    """The result of one hook call: events emitted, or why none were."""

    events: int = 0
    #: Why nothing was read, when nothing was.
    skipped: str = ""
    #: The error that was swallowed, if any.
    error: str = ""


def record_hook(
    agent: str,
    payload: Mapping[str, Any],
    sink_factory: Callable[[], EventSink] = open_sink,
    registry: PricingRegistry | None = None,
) -> HookRecord:
    """Emit the new usage visible from one hook call; never raises."""
    try:
        return _record(agent, payload, sink_factory, registry)
    except ProgressBusyError as exc:
        return HookRecord(skipped=str(exc))
    except Exception as exc:  # hooks fail open
        logger.warning("hook recording failed: %s", exc)
        return HookRecord(error=f"{type(exc).__name__}: {exc}")


def _record(
    agent: str,
    payload: Mapping[str, Any],
    sink_factory: Callable[[], EventSink],
    registry: PricingRegistry | None,
) -> HookRecord:
    harness = AGENT_HARNESSES.get(agent)
    if harness is None:
        return HookRecord(skipped=f"unknown agent {agent!r}")
    if os.environ.get(config.ENV_PROXY_URL):
        # Under ``otel-cost instrument`` the proxy already records every call.
        return HookRecord(skipped="the instrument proxy records this session")
    transcript = payload.get("transcript_path")
    if not isinstance(transcript, str) or not transcript:
        return HookRecord(skipped="the hook input has no transcript_path")
    path = Path(transcript).expanduser()
    if not path.is_file():
        # Agents write transcripts asynchronously; the next call catches up.
        return HookRecord(skipped="the transcript does not exist yet")
    importer = get_importer(harness)
    with locked_progress(harness) as progress:
        entry = progress.setdefault(str(path), {})
        result = _read(importer, path, entry)
        fresh = _fresh_events(result.events, entry.setdefault("sent", {}))
        if fresh:
            _emit(fresh, sink_factory, registry or load_registry())
        _advance(entry, path, result, fresh)
    return HookRecord(events=len(fresh))


def _read(importer: Importer, path: Path, entry: dict[str, Any]) -> ParseResult:
    start, state = 0, {}
    size = path.stat().st_size
    appended = (
        not importer.is_whole_file(path)
        and entry.get("offset", 0) <= size
        and same_prefix(path, entry.get("fingerprint", ""))
    )
    if appended:
        start, state = entry["offset"], dict(entry.get("state") or {})
    return importer.parse(path, start, state)


def _fresh_events(events: list[CostEvent], sent: dict[str, int]) -> list[CostEvent]:
    fresh = []
    for event in events:
        if event.usage.total_tokens > sent.get(event.event_id, -1):
            fresh.append(event.replace(source="hook"))
    return fresh


def _emit(
    events: list[CostEvent],
    sink_factory: Callable[[], EventSink],
    registry: PricingRegistry,
) -> None:
    for event in events:
        registry.price_event(event)
    sink = sink_factory()
    try:
        sink.write(events)
    finally:
        sink.close()


def _advance(
    entry: dict[str, Any], path: Path, result: ParseResult, fresh: list[CostEvent]
) -> None:
    # Only after a successful write: a failed one re-reads these bytes next time.
    entry["offset"] = result.offset
    entry["state"] = result.state
    entry["fingerprint"] = fingerprint(path)
    for event in fresh:
        entry["sent"][event.event_id] = event.usage.total_tokens
