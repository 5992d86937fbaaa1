"""Turning OTLP spans into cost events.

Read conventions:

* GenAI semantic conventions (``gen_ai.*``): input includes cache reads and
  writes, output includes reasoning. ``gen_ai.provider.name`` replaced
  ``gen_ai.system`` in semconv v1.37; both are read.
* Claude Code ``claude_code.*`` spans carry ``input_tokens``,
  ``cache_read_tokens`` and ``cache_creation_tokens`` in the Anthropic
  convention, where input excludes the cache.
* Codex records reasoning under ``codex.usage.reasoning_output_tokens``.
* Tool and agent spans without usage are kept for call counts and latency.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_cost.errors import OtelCostError, UsageFormatError
from otel_cost.events import CostEvent, FeeCategory, Usage
from otel_cost.normalise.usage import from_anthropic, from_semconv, has_semconv_usage
from otel_cost.serve import attribution
from otel_cost.serve.attributes import (
    MAX_VALUE_CHARS,
    first_id,
    first_in,
    id_text,
    text,
    to_dict,
)
from otel_cost.serve.otlp_decode import hex_id

MAX_MODEL_CHARS = 256
UINT32_MAX = 2**32 - 1
INVALID_TRACE_ID = bytes(16)
INVALID_SPAN_ID = bytes(8)

ANTHROPIC_SPAN_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
)
OPENLIT_CACHED = "gen_ai.usage.prompt_tokens_details.cached_tokens"
OPENLIT_CACHE_WRITE = "gen_ai.usage.prompt_tokens_details.cache_creation_tokens"
# Standard usage names and the older spellings read when a standard one is absent.
SEMCONV_ALIASES = (
    ("gen_ai.usage.reasoning.output_tokens", "codex.usage.reasoning_output_tokens"),
    ("gen_ai.usage.cache_read.input_tokens", OPENLIT_CACHED),
    ("gen_ai.usage.cache_write.input_tokens", OPENLIT_CACHE_WRITE),
)
ALIAS_KEYS = frozenset(alias for _, alias in SEMCONV_ALIASES)
TOOL_OPERATIONS = ("execute_tool", "tool_call")
# The usage of these operations sums their child inference spans, so counting
# it again would double the totals. The draft cost convention puts cost on
# inference spans only, for the same reason.
AGGREGATE_OPERATIONS = ("invoke_agent", "invoke_workflow", "create_agent", "agent_call")
# Claude Code spans under a tool span that describe the same call again.
IGNORED_SPAN_NAMES = (
    "claude_code.tool.blocked_on_user",
    "claude_code.tool.execution",
    "claude_code.hook",
)
TOOL_CALL_ID_KEYS = ("gen_ai.tool.call.id", "gen_ai.tool.call_id", "tool_use_id")
TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool_name", "tool.name")
# Keys that make a span relevant on their own. Besides the tool names these are
# gen_ai.* keys that most GenAI spans carry, so most spans need no scan of every key.
RELEVANT_KEYS = frozenset(
    (
        *TOOL_NAME_KEYS,
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.usage.input_tokens",
    )
)
KEPT_ATTRIBUTES = (
    "gen_ai.response.id",
    "gen_ai.agent.name",
    "gen_ai.agent.id",
    "gen_ai.tool.call.id",
    "gen_ai.request.service_tier",
    "query_source",
    "speed",
    "effort",
    "agent_id",
    "request_id",
    "github.copilot.cost",
    "github.copilot.nano_aiu",
    "gen_ai.usage.cost.source",
)


class InvalidSpanError(OtelCostError):
    """A span is cost-relevant but cannot be used."""


def span_to_event(
    span: Span, resource: attribution.ResourceInfo, scope_name: str
) -> CostEvent | None:
    """Return the cost event of ``span``, or None when the span carries no cost data.

    Raises `InvalidSpanError` naming the first problem of an unusable span.
    """
    attrs = to_dict(span.attributes)
    # Read once, because each read of a protobuf field builds a new object.
    name = span.name
    if not _is_relevant(name, attrs):
        return None
    trace_id, span_id = _ids(span)
    if not span.start_time_unix_nano:
        raise InvalidSpanError(f"span {span_id}: start_time_unix_nano is missing")
    harness = resource.harness
    try:
        event = _build(span, name, attrs, harness, trace_id, span_id)
        event.reported_cost_usd = _reported(event.operation, attrs)
    except (UsageFormatError, attribution.InvalidAttributeError) as exc:
        raise InvalidSpanError(f"span {span_id}: {exc}") from None
    event.source = "sdk" if scope_name.startswith("otel_cost") else "otlp"
    event.attributes["span.name"] = text(name)
    if scope_name:
        event.attributes["otel.scope.name"] = text(scope_name)
    return attribution.attribute(event, attrs, resource)


def _is_relevant(name: str, attrs: Mapping[str, Any]) -> bool:
    if name in IGNORED_SPAN_NAMES:
        return False
    if name.startswith("claude_code.") or not RELEVANT_KEYS.isdisjoint(attrs):
        return True
    return any(key.startswith(("gen_ai.", "codex.usage.")) for key in attrs)


def _ids(span: Span) -> tuple[str, str]:
    raw_trace_id, raw_span_id = span.trace_id, span.span_id
    trace_id, span_id = hex_id(raw_trace_id), hex_id(raw_span_id)
    if len(raw_span_id) != 8 or raw_span_id == INVALID_SPAN_ID:
        raise InvalidSpanError(f"span_id {span_id!r} is not 8 non-zero bytes")
    if len(raw_trace_id) != 16 or raw_trace_id == INVALID_TRACE_ID:
        raise InvalidSpanError(
            f"span {span_id}: trace_id {trace_id!r} is not 16 non-zero bytes"
        )
    return trace_id, span_id


def _build(
    span: Span,
    name: str,
    attrs: Mapping[str, Any],
    harness: str,
    trace_id: str,
    span_id: str,
) -> CostEvent:
    operation = _operation(name, attrs)
    tool_name = first_in(attrs, TOOL_NAME_KEYS)
    model_requested = first_in(attrs, ("gen_ai.request.model", "model"))
    model = first_in(attrs, ("gen_ai.response.model",)) or model_requested
    if len(model) > MAX_MODEL_CHARS:
        # Attribute values are cut at MAX_VALUE_CHARS, so a longer name shows as that.
        length = (
            f"{len(model)}" if len(model) < MAX_VALUE_CHARS else f"{MAX_VALUE_CHARS}+"
        )
        raise InvalidSpanError(
            f"span {span_id}: model name is {length} characters, over {MAX_MODEL_CHARS}"
        )
    usage = _usage(harness, operation, attrs)
    if operation in TOOL_OPERATIONS:
        usage = Usage(tokens=usage.tokens, fees={FeeCategory.TOOL_CALL: 1})
    failed = (
        span.status.code == Status.STATUS_CODE_ERROR
        or text(attrs.get("success")) == "false"
    )
    start_nanos = span.start_time_unix_nano
    return CostEvent(
        event_id=_event_id(harness, operation, attrs, trace_id, span_id),
        ts=attribution.nanos_to_datetime(start_nanos),
        harness=harness,
        source="otlp",
        provider=first_in(attrs, ("gen_ai.provider.name", "gen_ai.system")),
        model_requested=model_requested,
        model=model,
        trace_id=trace_id,
        span_id=span_id,
        operation=operation,
        tool_name=tool_name,
        outcome="error" if failed else "ok",
        error_type=_error_type(span, attrs) if failed else "",
        latency_ms=_latency_ms(start_nanos, span.end_time_unix_nano),
        service_tier=_service_tier(attrs),
        usage=usage,
        attributes=attribution.kept_attributes(attrs, KEPT_ATTRIBUTES),
    )


def _operation(name: str, attrs: Mapping[str, Any]) -> str:
    operation = text(attrs.get("gen_ai.operation.name"))
    if operation:
        return operation
    if name == "claude_code.llm_request":
        return "chat"
    if name == "claude_code.tool" or any(key in attrs for key in TOOL_NAME_KEYS):
        return "execute_tool"
    if name == "claude_code.interaction":
        return "interaction"
    return "chat"


def _usage(harness: str, operation: str, attrs: Mapping[str, Any]) -> Usage:
    if operation in AGGREGATE_OPERATIONS:
        return Usage()
    if not has_semconv_usage(attrs) and any(
        key in attrs for key in ANTHROPIC_SPAN_KEYS
    ):
        return from_anthropic(
            {
                "input_tokens": attrs.get("input_tokens"),
                "output_tokens": attrs.get("output_tokens"),
                "cache_read_input_tokens": attrs.get("cache_read_tokens"),
                "cache_creation_input_tokens": attrs.get("cache_creation_tokens"),
            }
        )
    return from_semconv(_semconv_aliases(attrs))


def _semconv_aliases(attrs: Mapping[str, Any]) -> Mapping[str, Any]:
    # Older OpenLIT and Codex spell some subsets differently; fill the
    # standard names only when they are absent.
    if attrs.keys().isdisjoint(ALIAS_KEYS):
        return attrs
    filled = {
        standard: attrs[alias]
        for standard, alias in SEMCONV_ALIASES
        if alias in attrs and standard not in attrs
    }
    if not filled:
        return attrs
    return {**attrs, **filled}


def _reported(operation: str, attrs: Mapping[str, Any]) -> Any:
    if operation in AGGREGATE_OPERATIONS:
        return None
    return attribution.reported_cost(attrs)


def _event_id(
    harness: str, operation: str, attrs: Mapping[str, Any], trace_id: str, span_id: str
) -> str:
    # A tool call seen both as a span and as a log record (Claude Code's
    # tool_result, Codex's tool_result) shares its call id, so it counts once.
    if operation in TOOL_OPERATIONS:
        call_id = first_id(attrs, TOOL_CALL_ID_KEYS)
        if call_id:
            return f"{harness}:tool:{call_id}"
    # The transcript importer keys Claude Code responses by message id.
    # NOTE: Claude Code's api_request log event has the request id but not the
    # message id, so a request exported both as this span and as that event
    # is stored twice. Codex's responses span and its response.completed log
    # event share no id either. Export either an agent's traces or its logs.
    if harness == "claude-code":
        response_id = id_text(attrs.get("gen_ai.response.id"))
        if response_id:
            return f"{harness}:{response_id}"
    return f"otlp:{trace_id}:{span_id}"


def _error_type(span: Span, attrs: Mapping[str, Any]) -> str:
    return first_in(attrs, ("error.type", "status_code", "error_type")) or "error"


def _latency_ms(start_nanos: int, end_nanos: int) -> int:
    if end_nanos < start_nanos:
        return 0
    return min((end_nanos - start_nanos) // 1_000_000, UINT32_MAX)


def _service_tier(attrs: Mapping[str, Any]) -> str:
    tier = first_in(
        attrs, ("gen_ai.request.service_tier", "gen_ai.openai.request.service_tier")
    )
    return tier if tier in ("priority", "flex", "batch") else ""
