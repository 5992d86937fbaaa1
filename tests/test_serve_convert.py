"""Converting OTLP requests into priced events, without a running service."""

from __future__ import annotations

from decimal import Decimal

from serve_support import span, trace_request

from otel_cost.events import CostStatus, FeeCategory
from otel_cost.events import TokenCategory as T
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.serve.ingest import Conversion, convert_traces

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 200,
}


def convert_spans(
    registry: PricingRegistry, *spans_attrs: dict[str, object], **resource: str
) -> Conversion:
    """Convert one request of spans numbered from 1 under one resource."""
    spans = [span(number, attrs) for number, attrs in enumerate(spans_attrs, 1)]
    return convert_traces(trace_request(spans, resource), registry)


def test_zero_ids_rejected(registry):
    zero_span_id = span(1, CHAT)
    zero_span_id.span_id = bytes(8)
    zero_trace_id = span(2, CHAT)
    zero_trace_id.trace_id = bytes(16)
    request = trace_request([zero_span_id, zero_trace_id], {})
    result = convert_traces(request, registry)
    assert result.rejected == 2
    assert result.errors[0] == "span_id '0000000000000000' is not 8 non-zero bytes"
    assert result.errors[1] == (
        "span 0000000000000002: trace_id '00000000000000000000000000000000' "
        "is not 16 non-zero bytes"
    )


def test_relevance_by_any_gen_ai_key(registry):
    result = convert_spans(
        registry,
        {"gen_ai.agent.name": "planner"},
        {"codex.usage.reasoning_output_tokens": 0},
        {"http.method": "GET"},
        {"tool_name": "Read"},
    )
    assert result.received == 4
    assert result.ignored == 1
    assert [event.span_id for event in result.events] == [
        "0000000000000001",
        "0000000000000002",
        "0000000000000004",
    ]
    assert result.events[2].operation == "execute_tool"


def test_ignored_span_names_skipped(registry):
    hook = span(1, CHAT, name="claude_code.hook")
    request = trace_request([hook], {"service.name": "claude-code"})
    result = convert_traces(request, registry)
    assert result.ignored == 1
    assert result.events == []


def test_semconv_aliases_fill_only_gaps(registry):
    result = convert_spans(
        registry,
        {**CHAT, "codex.usage.reasoning_output_tokens": 50},
        {
            **CHAT,
            "gen_ai.usage.reasoning.output_tokens": 20,
            "codex.usage.reasoning_output_tokens": 50,
        },
        {**CHAT, "gen_ai.usage.prompt_tokens_details.cached_tokens": 300},
    )
    assert result.rejected == 0
    first, second, third = (event.usage.tokens for event in result.events)
    assert first == {T.INPUT: 1000, T.OUTPUT: 150, T.REASONING: 50}
    assert second == {T.INPUT: 1000, T.OUTPUT: 180, T.REASONING: 20}
    assert third == {T.INPUT: 700, T.CACHE_READ: 300, T.OUTPUT: 200}


def test_semconv_usage_wins_over_anthropic_keys(registry):
    both = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.prompt_tokens": 500,
        "input_tokens": 10,
    }
    anthropic_only = {**both}
    del anthropic_only["gen_ai.usage.prompt_tokens"]
    result = convert_spans(registry, both, anthropic_only)
    assert result.events[0].usage.tokens == {T.INPUT: 500}
    assert result.events[1].usage.tokens == {T.INPUT: 10}


def test_event_ids_by_operation_and_harness(registry):
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.id": "call_1"}
    chat_with_call_id = {**CHAT, "gen_ai.tool.call.id": "call_2"}
    with_response_id = {**CHAT, "gen_ai.response.id": "msg_1"}
    claude = convert_spans(
        registry,
        tool,
        chat_with_call_id,
        with_response_id,
        **{"service.name": "claude-code"},
    )
    other = convert_spans(registry, with_response_id, **{"service.name": "agent"})
    assert [event.event_id for event in claude.events] == [
        "claude-code:tool:call_1",
        "otlp:00000000000000000000000000000001:0000000000000002",
        "claude-code:msg_1",
    ]
    assert claude.events[0].usage.fees == {FeeCategory.TOOL_CALL: 1}
    assert other.events[0].event_id == (
        "otlp:00000000000000000000000000000001:0000000000000001"
    )


def test_latency_of_span_ending_early_is_zero(registry):
    early = span(1, CHAT)
    early.end_time_unix_nano = early.start_time_unix_nano - 1
    result = convert_traces(trace_request([early, span(2, CHAT)], {}), registry)
    assert [event.latency_ms for event in result.events] == [0, 250]


def test_priced_span_cost_exact(registry):
    result = convert_spans(registry, CHAT)
    event = result.events[0]
    assert event.cost_status is CostStatus.PRICED
    assert event.cost_usd == sum(line.cost_usd for line in event.cost_lines)
    assert isinstance(event.cost_usd, Decimal)
    assert [line.category for line in event.cost_lines] == ["input", "output"]


def test_span_owners_override_resource_owners(registry):
    resource = {
        "service.name": "agent",
        "project": "from-resource",
        "team": "platform",
        "session.id": "resource-session",
    }
    named = {**CHAT, "project.name": "from-span", "otel_cost.project": ""}
    specific = {**CHAT, "project": "second", "otel_cost.project": "first"}
    empty = {**CHAT, "project": "", "gen_ai.conversation.id": "span-session"}
    result = convert_spans(registry, named, specific, empty, CHAT, **resource)
    assert [event.project for event in result.events] == [
        "from-span",
        "first",
        "from-resource",
        "from-resource",
    ]
    assert [event.team for event in result.events] == ["platform"] * 4
    assert [event.session_id for event in result.events] == [
        "resource-session",
        "resource-session",
        "span-session",
        "resource-session",
    ]


def test_service_name_kept_when_present(registry):
    named = convert_spans(registry, CHAT, **{"service.name": "agent"})
    unnamed = convert_spans(registry, CHAT)
    assert named.events[0].attributes["service.name"] == "agent"
    assert "service.name" not in unnamed.events[0].attributes
    assert unnamed.events[0].harness == "otlp"


def test_event_time_range_boundaries(registry):
    earliest_ns = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z
    latest_ns = 4_102_444_800 * 10**9  # 2100-01-01T00:00:00Z
    starts = [earliest_ns - 1, earliest_ns, latest_ns - 1, latest_ns]
    spans = [
        span(number, CHAT, start_ns=start) for number, start in enumerate(starts, 1)
    ]
    result = convert_traces(trace_request(spans, {}), registry)
    assert [event.ts.isoformat() for event in result.events] == [
        "2000-01-01T00:00:00+00:00",
        "2099-12-31T23:59:59.999999+00:00",
    ]
    assert result.errors == [
        "span 0000000000000001: event time 1999-12-31T23:59:59.999999+00:00 "
        "is outside 2000-01-01 to 2100-01-01",
        "span 0000000000000004: event time 2100-01-01T00:00:00+00:00 "
        "is outside 2000-01-01 to 2100-01-01",
    ]


def test_kept_attributes_only_named_ones(registry):
    result = convert_spans(
        registry,
        {**CHAT, "gen_ai.response.id": "resp_1", "speed": "", "prompt": "secret"},
        CHAT,
    )
    named, plain = result.events
    assert named.attributes == {"gen_ai.response.id": "resp_1", "span.name": "chat"}
    assert plain.attributes == {"span.name": "chat"}


def test_huge_model_name_length_not_understated(registry):
    result = convert_spans(registry, {**CHAT, "gen_ai.request.model": "m" * 5000})
    assert result.rejected == 1
    # Values are cut at 1,024 characters before the length check.
    assert "model name is 1024+ characters, over 256" in result.errors[0]
