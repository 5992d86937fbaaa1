"""Usage readers, one per wire format, fed whole JSON bodies or stream events.

Every reader keeps only counts, ids, model names and error codes: never
message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otel_cost.capture.wire.endpoints import WireFormat


@dataclass
class FormatState:
    """The usage, ids and status a reader has collected so far for one response."""

    usage: dict[str, Any] | None = None
    model: str = ""
    response_id: str = ""
    service_tier: str = ""
    finish_reasons: list[str] = field(default_factory=list)
    error_type: str = ""
    #: The stream reached its format's terminal event (always True for JSON).
    complete: bool = False


class FormatReader:
    """Base reader: subclasses override the hooks they need."""

    #: Whether a stream of this format has a terminal event to wait for.
    has_terminal_event = True

    def __init__(self) -> None:
        self.state = FormatState()

    def on_json(self, body: Any) -> None:
        """Read a complete (non-streamed) response body."""
        if isinstance(body, dict):
            self._read_error(body)
            self._read_body(body)
        self.state.complete = True

    def on_event(self, event: str, data: Any) -> None:
        """Read one stream event whose data parsed as JSON."""

    def wants(self, event: str, data: str) -> bool:
        """Return whether an event may carry anything this reader keeps.

        Text deltas make up most of a stream; skipping their JSON parsing
        keeps the meter's cost per event small.
        """
        return True

    def on_done(self) -> None:
        """Note an OpenAI-style ``[DONE]`` sentinel."""

    def _read_body(self, body: dict[str, Any]) -> None:
        pass

    def _read_error(self, body: dict[str, Any]) -> None:
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("type") or error.get("status") or error.get("code")
            self.state.error_type = str(code or "error")

    def _take(self, body: dict[str, Any], model_key: str = "model") -> None:
        if isinstance(body.get(model_key), str):
            self.state.model = body[model_key]
        if isinstance(body.get("id"), str):
            self.state.response_id = body["id"]
        if isinstance(body.get("service_tier"), str):
            self.state.service_tier = body["service_tier"]


class AnthropicReader(FormatReader):
    """Anthropic Messages.

    A stream opens with ``message_start`` (id, model, input and cache counts)
    and ``message_delta`` events carry cumulative usage, so later values
    replace earlier ones key by key.
    """

    def _read_body(self, body: dict[str, Any]) -> None:
        self._take(body)
        self._merge_usage(body.get("usage"))
        if isinstance(body.get("stop_reason"), str):
            self.state.finish_reasons = [body["stop_reason"]]

    KEPT_EVENTS = frozenset({"message_start", "message_delta", "message_stop", "error"})

    def wants(self, event: str, data: str) -> bool:
        """Skip content block events, which carry text only."""
        return event in self.KEPT_EVENTS or event == "message"

    def on_event(self, event: str, data: Any) -> None:
        """Read ``message_start``, ``message_delta``, ``message_stop`` and ``error``."""
        if not isinstance(data, dict):
            return
        kind = data.get("type", event)
        if kind == "message_start" and isinstance(data.get("message"), dict):
            self._read_body(data["message"])
        elif kind == "message_delta":
            self._merge_usage(data.get("usage"))
            delta = data.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.state.finish_reasons = [delta["stop_reason"]]
        elif kind == "message_stop":
            self.state.complete = True
        elif kind == "error":
            self._read_error(data)

    def _merge_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        merged = dict(self.state.usage or {})
        merged.update({key: value for key, value in usage.items() if value is not None})
        self.state.usage = merged
        tier = usage.get("service_tier")
        if isinstance(tier, str):
            self.state.service_tier = tier


class OpenAIChatReader(FormatReader):
    """OpenAI Chat Completions.

    A stream has usage only in its last chunk, and only when the request set
    ``stream_options.include_usage``; ``data: [DONE]`` ends it.
    """

    def _read_body(self, body: dict[str, Any]) -> None:
        self._take(body)
        if isinstance(body.get("usage"), dict):
            self.state.usage = body["usage"]
        reasons = _strings(body.get("choices"), "finish_reason")
        if reasons:
            self.state.finish_reasons = reasons

    def wants(self, event: str, data: str) -> bool:
        """Parse the first chunk, chunks with usage or a finish reason, and errors."""
        return (
            not self.state.model
            or '"usage":{' in data.replace(" ", "")
            or '"finish_reason":"' in data.replace(" ", "")
            or '"error"' in data
        )

    def on_event(self, event: str, data: Any) -> None:
        """Read one chunk; the chunk that carries usage is the last one."""
        if isinstance(data, dict):
            self._read_error(data)
            self._read_body(data)

    def on_done(self) -> None:
        """Mark the stream complete."""
        self.state.complete = True


class OpenAIResponsesReader(FormatReader):
    """OpenAI Responses: usage arrives with the terminal ``response.*`` event."""

    TERMINAL = ("response.completed", "response.failed", "response.incomplete")

    def _read_body(self, body: dict[str, Any]) -> None:
        self._take(body)
        if isinstance(body.get("usage"), dict):
            self.state.usage = body["usage"]
        status = body.get("status")
        if isinstance(status, str) and status not in ("in_progress", "queued"):
            self.state.finish_reasons = [status]
        if status == "failed":
            self._read_error(body)

    def wants(self, event: str, data: str) -> bool:
        """Skip delta and part events, which carry output only."""
        return event in self.TERMINAL or event in (
            "response.created",
            "error",
            "message",
        )

    def on_event(self, event: str, data: Any) -> None:
        """Read ``response.created`` for ids and the terminal event for usage."""
        if not isinstance(data, dict):
            return
        kind = data.get("type", event)
        if isinstance(data.get("response"), dict):
            self._read_body(data["response"])
        if kind in self.TERMINAL:
            self.state.complete = True
        elif kind == "error":
            code = data.get("code") or data.get("type")
            self.state.error_type = str(code or "error")


class GeminiReader(FormatReader):
    """Gemini ``generateContent`` and ``streamGenerateContent``.

    Every streamed chunk repeats the running ``usageMetadata``, so the last
    one is the total; adding them up would count the prompt once per chunk.
    The stream has no terminal event: it ends when the connection does.
    """

    has_terminal_event = False

    def _read_body(self, body: dict[str, Any]) -> None:
        if isinstance(body.get("usageMetadata"), dict):
            self.state.usage = body["usageMetadata"]
        if isinstance(body.get("modelVersion"), str):
            self.state.model = body["modelVersion"]
        if isinstance(body.get("responseId"), str):
            self.state.response_id = body["responseId"]
        reasons = _strings(body.get("candidates"), "finishReason")
        if reasons:
            self.state.finish_reasons = reasons

    def on_json(self, body: Any) -> None:
        """Read one response, or the JSON array a stream without ``alt=sse`` sends."""
        chunks = body if isinstance(body, list) else [body]
        for chunk in chunks:
            super().on_json(chunk)

    def on_event(self, event: str, data: Any) -> None:
        """Read one streamed chunk."""
        if isinstance(data, dict):
            self._read_error(data)
            self._read_body(data)


def _strings(items: Any, key: str) -> list[str]:
    if not isinstance(items, list):
        return []
    found = [item.get(key) for item in items if isinstance(item, dict)]
    return [value for value in found if isinstance(value, str)]


READERS: dict[WireFormat, type[FormatReader]] = {
    WireFormat.ANTHROPIC_MESSAGES: AnthropicReader,
    WireFormat.OPENAI_CHAT: OpenAIChatReader,
    WireFormat.OPENAI_RESPONSES: OpenAIResponsesReader,
    WireFormat.GEMINI_GENERATE: GeminiReader,
}

#: The usage convention of each format, as named by `otel_cost.normalise.usage`.
USAGE_CONVENTIONS: dict[WireFormat, str] = {
    WireFormat.ANTHROPIC_MESSAGES: "anthropic",
    WireFormat.OPENAI_CHAT: "openai",
    WireFormat.OPENAI_RESPONSES: "openai",
    WireFormat.GEMINI_GENERATE: "gemini",
}
