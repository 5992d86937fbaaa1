"""Turning OTLP log records (agent telemetry events) into cost events.

Events read, by name (``event_name`` field, ``event.name`` attribute, or a
body that is the name):

* ``claude_code.api_request``: Anthropic usage convention (input excludes the
  cache) plus Claude Code's own estimate, kept as the reported cost.
* ``claude_code.tool_result``, ``codex.tool_result``, ``gemini_cli.tool_call``:
  tool calls with latency and outcome.
* ``claude_code.api_error``, ``gemini_cli.api_error``: failed requests.
* ``codex.sse_event`` / ``codex.websocket_event`` of kind
  ``response.completed``: Codex usage (input includes cached tokens, output
  includes reasoning).
* ``gemini_cli.api_response``: Gemini usage (input includes cached tokens,
  thoughts are outside the output).
* Any record with ``gen_ai.usage.*`` attributes, such as
  ``gen_ai.client.inference.operation.details``.

Other records are ignored. Log bodies are never read, because they may hold
prompt or response text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from otel_cost.errors import OtelCostError, UsageFormatError
from otel_cost.events import CostEvent, FeeCategory, Usage, stable_id
from otel_cost.normalise.usage import (
    from_anthropic,
    from_codex,
    from_gemini,
    from_semconv,
    has_semconv_usage,
)
from otel_cost.serve import attribution
from otel_cost.serve.attributes import (
    any_value,
    first_id,
    first_in,
    id_text,
    text,
    to_dict,
)
from otel_cost.serve.otlp_decode import hex_id

UINT32_MAX = 2**32 - 1
EVENT_NAME_PREFIXES = ("claude_code.", "codex.", "gemini_cli.", "gen_ai.")
KEPT_ATTRIBUTES = (
    "event.name",
    "request_id",
    "client_request_id",
    "prompt.id",
    "prompt_id",
    "query_source",
    "speed",
    "effort",
    "agent.name",
    "skill.name",
    "attempt",
    "status_code",
    "mcp_server",
    "decision_type",
    "app.version",
)


class InvalidLogRecordError(OtelCostError):
    """A log record is cost-relevant but cannot be used."""


Handler = Callable[[LogRecord, dict[str, Any], str], CostEvent | None]


def log_to_event(
    record: LogRecord, resource: attribution.ResourceInfo, scope_name: str
) -> CostEvent | None:
    """Return the cost event of ``record``, or None when it carries no cost data.

    Raises `InvalidLogRecordError` naming the first problem of an unusable record.
    """
    attrs = to_dict(record.attributes)
    harness = resource.harness
    name = event_name(record, attrs, harness)
    handler = HANDLERS.get(name)
    if handler is None and has_semconv_usage(attrs):
        handler = _semconv_event
    if handler is None or (name == SEMCONV_DETAILS and harness == "gemini"):
        # Gemini CLI reports each call twice; gemini_cli.api_response is used.
        return None
    if name in PROXIED_EVENTS and resource.attributes.get(CAPTURE_MARKER) == "proxy":
        # ``otel-cost instrument`` records these requests at its proxy and
        # marks the agent's resource, so the agent's own copy is skipped.
        return None
    try:
        event = handler(record, attrs, harness)
    except (UsageFormatError, attribution.InvalidAttributeError) as exc:
        raise InvalidLogRecordError(
            f"log record {name or '(unnamed)'}: {exc}"
        ) from None
    if event is None:
        return None
    event.trace_id, event.span_id = hex_id(record.trace_id), hex_id(record.span_id)
    event.attributes.update(attribution.kept_attributes(attrs, KEPT_ATTRIBUTES))
    if scope_name:
        event.attributes["otel.scope.name"] = text(scope_name)
    return attribution.attribute(event, attrs, resource)


def event_name(record: LogRecord, attrs: Mapping[str, Any], harness: str) -> str:
    """Return the event name of a log record, wherever the emitter put it.

    Claude Code sets ``event.name`` to the short name (``api_request``) and the
    body to the full one (``claude_code.api_request``), so a short name is
    completed with the harness's prefix.
    """
    body = any_value(record.body)
    candidates = [record.event_name, text(attrs.get("event.name"))]
    if (
        isinstance(body, str)
        and body.startswith(EVENT_NAME_PREFIXES)
        and " " not in body
    ):
        candidates.append(body)
    prefix = HARNESS_EVENT_PREFIXES.get(harness, "")
    for candidate in candidates:
        for name in (candidate, f"{prefix}{candidate}"):
            if candidate and name in HANDLERS:
                return name
    return next((candidate for candidate in candidates if candidate), "")


def event_time(record: LogRecord, attrs: Mapping[str, Any]) -> datetime:
    """Return when the event happened: ``event.timestamp``, else the record times."""
    stamp = text(attrs.get("event.timestamp"))
    if stamp:
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise attribution.InvalidAttributeError(
                f"event.timestamp must be an ISO 8601 time, got {stamp!r}"
            ) from None
        zoned = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return attribution.checked_time(zoned)
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    if not nanos:
        raise attribution.InvalidAttributeError(
            "time_unix_nano, observed_time_unix_nano and event.timestamp are all missing"
        )
    return attribution.nanos_to_datetime(nanos)


def record_id(record: LogRecord, attrs: Mapping[str, Any]) -> str:
    """Return a stable id of a record: the same record re-sent gets the same id."""
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    encoded = orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS, default=_bytes_hex)
    digest = stable_id(
        hex_id(record.trace_id),
        hex_id(record.span_id),
        nanos,
        record.event_name,
        encoded.decode(),
    )
    return f"otlp-log:{digest}"


def _bytes_hex(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _base(
    record: LogRecord,
    attrs: Mapping[str, Any],
    harness: str,
    event_id: str,
    **fields: Any,
) -> CostEvent:
    model = first_in(attrs, ("gen_ai.response.model", "model", "gen_ai.request.model"))
    return CostEvent(
        event_id=event_id or record_id(record, attrs),
        ts=event_time(record, attrs),
        harness=harness,
        source="otlp",
        model_requested=first_in(attrs, ("gen_ai.request.model", "model")),
        model=model,
        latency_ms=_milliseconds(attrs.get("duration_ms")),
        **fields,
    )


def _claude_api_request(
    record: LogRecord, attrs: dict[str, Any], harness: str
) -> CostEvent:
    usage = from_anthropic(
        {
            "input_tokens": attrs.get("input_tokens"),
            "output_tokens": attrs.get("output_tokens"),
            "cache_read_input_tokens": attrs.get("cache_read_tokens"),
            "cache_creation_input_tokens": attrs.get("cache_creation_tokens"),
        }
    )
    request_id = id_text(attrs.get("request_id"))
    event = _base(
        record,
        attrs,
        harness,
        f"{harness}:req:{request_id}" if request_id else "",
        provider="anthropic",
        operation="chat",
        usage=usage,
    )
    event.reported_cost_usd = _claude_reported_cost(attrs)
    return event


def _claude_reported_cost(attrs: Mapping[str, Any]) -> Decimal | None:
    # cost_usd_micros is an exact integer; cost_usd is the same amount as a float.
    if "cost_usd_micros" in attrs:
        micros = attribution.usd(attrs["cost_usd_micros"], "cost_usd_micros")
        return micros / Decimal(1_000_000)
    if "cost_usd" in attrs:
        return attribution.usd(attrs["cost_usd"], "cost_usd")
    return None


def _tool_result(record: LogRecord, attrs: dict[str, Any], harness: str) -> CostEvent:
    call_id = first_id(attrs, ("tool_use_id", "call_id", "gen_ai.tool.call.id"))
    success = text(attrs.get("success")).lower()
    failed = success in ("false", "0")
    return _base(
        record,
        attrs,
        harness,
        f"{harness}:tool:{call_id}" if call_id else "",
        operation="execute_tool",
        tool_name=first_in(attrs, ("tool_name", "function_name", "gen_ai.tool.name")),
        outcome="error" if failed else "ok",
        error_type=(first_in(attrs, ("error_type", "error.type")) or "error")
        if failed
        else "",
        usage=Usage(fees={FeeCategory.TOOL_CALL: 1}),
    )


def _api_error(record: LogRecord, attrs: dict[str, Any], harness: str) -> CostEvent:
    error_type = first_in(attrs, ("status_code", "error_type", "error.type"))
    return _base(
        record,
        attrs,
        harness,
        "",
        operation="chat",
        outcome="error",
        error_type=error_type or "error",
    )


def _codex_response(
    record: LogRecord, attrs: dict[str, Any], harness: str
) -> CostEvent | None:
    if text(attrs.get("event.kind")) != "response.completed":
        return None
    usage = from_codex(
        {
            "input_tokens": attrs.get("input_token_count"),
            "cached_input_tokens": attrs.get("cached_token_count"),
            "output_tokens": attrs.get("output_token_count"),
            "reasoning_output_tokens": attrs.get("reasoning_token_count"),
        }
    )
    return _base(
        record, attrs, harness, "", provider="openai", operation="chat", usage=usage
    )


def _gemini_response(
    record: LogRecord, attrs: dict[str, Any], harness: str
) -> CostEvent:
    usage = from_gemini(
        {
            "promptTokenCount": attrs.get("input_token_count"),
            "cachedContentTokenCount": attrs.get("cached_content_token_count"),
            "candidatesTokenCount": attrs.get("output_token_count"),
            "thoughtsTokenCount": attrs.get("thoughts_token_count"),
        }
    )
    status = text(attrs.get("status_code"))
    failed = status.isdigit() and int(status) >= 400
    return _base(
        record,
        attrs,
        harness,
        "",
        provider="gcp.gemini",
        operation="chat",
        usage=usage,
        outcome="error" if failed else "ok",
        error_type=status if failed else "",
    )


def _semconv_event(record: LogRecord, attrs: dict[str, Any], harness: str) -> CostEvent:
    event = _base(
        record,
        attrs,
        harness,
        "",
        provider=first_in(attrs, ("gen_ai.provider.name", "gen_ai.system")),
        operation=text(attrs.get("gen_ai.operation.name")) or "chat",
        usage=from_semconv(attrs),
    )
    event.reported_cost_usd = attribution.reported_cost(attrs)
    return event


def _milliseconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0
    try:
        return max(0, min(int(float(value)), UINT32_MAX))
    except ValueError:
        return 0


SEMCONV_DETAILS = "gen_ai.client.inference.operation.details"
#: Resource attribute set by ``otel-cost instrument`` on the agents it wraps.
CAPTURE_MARKER = "otel_cost.capture"
PROXIED_EVENTS = ("claude_code.api_request",)
HARNESS_EVENT_PREFIXES = {
    "claude-code": "claude_code.",
    "codex": "codex.",
    "gemini": "gemini_cli.",
}
HANDLERS: dict[str, Handler] = {
    "claude_code.api_request": _claude_api_request,
    "claude_code.tool_result": _tool_result,
    "claude_code.api_error": _api_error,
    "codex.sse_event": _codex_response,
    "codex.websocket_event": _codex_response,
    "codex.tool_result": _tool_result,
    "gemini_cli.api_response": _gemini_response,
    "gemini_cli.api_error": _api_error,
    "gemini_cli.tool_call": _tool_result,
    SEMCONV_DETAILS: _semconv_event,
}
