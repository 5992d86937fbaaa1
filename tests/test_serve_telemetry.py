"""Agent telemetry shapes: Claude Code, Codex, Gemini CLI, OpenLIT and LiteLLM."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from serve_support import (
    T0_NS,
    client,
    log_record,
    log_request,
    serving,
    span,
    trace_request,
)

CLAUDE = {"service.name": "claude-code", "team": "platform", "project": "api"}


def post(http, service, path, request):
    reply = http.post(
        f"{service.urls['otlp_http_url']}{path}",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert reply.status_code == 200
    return reply


def events_by_id(store):
    rows = store.query_dicts("SELECT * FROM cost_events FINAL ORDER BY event_id")
    return {row["event_id"]: row for row in rows}


def test_claude_code_api_request_log(store, registry):
    record = log_record(
        {
            "event.name": "claude_code.api_request",
            "session.id": "sess-1",
            "model": "claude-sonnet-4-5",
            "input_tokens": "50",
            "output_tokens": "300",
            "cache_read_tokens": "1000",
            "cache_creation_tokens": "400",
            "cost_usd": "0.012345",
            "cost_usd_micros": 12345,
            "duration_ms": "2100",
            "request_id": "req_011",
            "user.email": "dev@example.com",
            "event.timestamp": "2026-08-20T09:59:58.500Z",
            "prompt": "secret text",
        }
    )
    with serving(store, registry) as service, client() as http:
        reply = post(http, service, "/v1/logs", log_request([record], CLAUDE))
        assert not ExportLogsServiceResponse.FromString(reply.content).HasField(
            "partial_success"
        )
    row = events_by_id(store)["claude-code:req:req_011"]
    # 50 x 3e-6 + 1000 x 3e-7 + 400 x 3.75e-6 + 300 x 1.5e-5
    assert row["cost_usd"] == Decimal("0.00645")
    assert row["reported_cost_usd"] == Decimal("0.012345")
    assert row["input_tokens"] == 50
    assert row["cache_read_tokens"] == 1000
    assert row["cache_write_5m_tokens"] == 400
    assert row["harness"] == "claude-code"
    assert row["session_id"] == "sess-1"
    assert row["user"] == "dev@example.com"
    assert row["team"] == "platform"
    assert row["latency_ms"] == 2100
    assert row["ts"].isoformat().startswith("2026-08-20T09:59:58.500")
    assert "secret text" not in str(row["attributes"])


def test_claude_tool_span_and_log_once(store, registry):
    tool_span = span(
        5,
        {"tool_name": "Bash", "gen_ai.tool.call.id": "toolu_1"},
        name="claude_code.tool",
        duration_ms=900,
    )
    tool_log = log_record(
        {
            "event.name": "claude_code.tool_result",
            "tool_name": "Bash",
            "tool_use_id": "toolu_1",
            "success": "false",
            "error_type": "exit_code",
            "duration_ms": "900",
        }
    )
    with serving(store, registry) as service, client() as http:
        post(http, service, "/v1/traces", trace_request([tool_span], CLAUDE))
        post(http, service, "/v1/logs", log_request([tool_log], CLAUDE))
    rows = events_by_id(store)
    assert list(rows) == ["claude-code:tool:toolu_1"]
    row = rows["claude-code:tool:toolu_1"]
    assert row["operation"] == "execute_tool"
    assert row["tool_name"] == "Bash"
    assert row["tool_call_count"] == 1
    assert row["latency_ms"] == 900
    assert row["cost_usd"] == Decimal(0)
    assert row["cost_status"] == "priced"


def test_claude_llm_request_span_anthropic_usage(store, registry):
    attrs = {
        "model": "claude-haiku-4-5",
        "gen_ai.system": "anthropic",
        "input_tokens": 100,
        "output_tokens": 10,
        "cache_read_tokens": 1000,
        "cache_creation_tokens": 0,
        "gen_ai.response.id": "msg_abc",
    }
    with serving(store, registry) as service, client() as http:
        post(
            http,
            service,
            "/v1/traces",
            trace_request([span(9, attrs, name="claude_code.llm_request")], CLAUDE),
        )
    row = events_by_id(store)["claude-code:msg_abc"]
    # Anthropic convention: 100 x 1e-6 + 1000 x 1e-7 + 10 x 5e-6
    assert row["cost_usd"] == Decimal("0.00025")
    assert row["provider"] == "anthropic"


def test_codex_sse_response_completed(store, registry):
    completed = log_record(
        {
            "event.name": "codex.sse_event",
            "event.kind": "response.completed",
            "model": "gpt-5",
            "conversation.id": "conv-9",
            "input_token_count": 3000,
            "cached_token_count": 2000,
            "output_token_count": 800,
            "reasoning_token_count": 300,
        }
    )
    delta = log_record(
        {"event.name": "codex.sse_event", "event.kind": "response.output_text.delta"}
    )
    with serving(store, registry) as service, client() as http:
        post(
            http,
            service,
            "/v1/logs",
            log_request([completed, delta], {"service.name": "codex_cli_rs"}),
        )
    rows = list(events_by_id(store).values())
    assert len(rows) == 1
    row = rows[0]
    # 1000 x 1.25e-6 + 2000 x 1.25e-7 + 500 x 1e-5 + 300 reasoning x 1e-5
    assert row["cost_usd"] == Decimal("0.0095")
    assert row["harness"] == "codex"
    assert row["session_id"] == "conv-9"
    assert row["reasoning_tokens"] == 300


def test_gemini_api_response_not_doubled(store, registry):
    response = log_record(
        {
            "event.name": "gemini_cli.api_response",
            "model": "gemini-2.5-pro",
            "session.id": "g-1",
            "input_token_count": 10000,
            "cached_content_token_count": 4000,
            "output_token_count": 1000,
            "thoughts_token_count": 500,
            "duration_ms": 3000,
        }
    )
    details = log_record(
        {
            "event.name": "gen_ai.client.inference.operation.details",
            "gen_ai.request.model": "gemini-2.5-pro",
            "gen_ai.usage.input_tokens": 10000,
            "gen_ai.usage.output_tokens": 1000,
        }
    )
    with serving(store, registry) as service, client() as http:
        post(
            http,
            service,
            "/v1/logs",
            log_request([response, details], {"service.name": "gemini-cli"}),
        )
    rows = list(events_by_id(store).values())
    assert len(rows) == 1
    # 6000 x 1.25e-6 + 4000 x 1.25e-7 + 1000 x 1e-5 + 500 thoughts x 1e-5
    assert rows[0]["cost_usd"] == Decimal("0.023")
    assert rows[0]["harness"] == "gemini"


def test_vendor_costs_kept_as_reported(store, registry):
    openlit = span(
        1,
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.cost": 0.00021,
        },
    )
    litellm = span(
        2,
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.prompt_tokens": 2000,
            "gen_ai.usage.completion_tokens": 0,
            "gen_ai.cost.total_cost": "0.0003",
        },
    )
    agent = span(
        3,
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "planner",
            "gen_ai.usage.input_tokens": 3000,
            "gen_ai.usage.cost": 1.5,
        },
        duration_ms=4000,
    )
    unknown = span(
        4,
        {
            "gen_ai.request.model": "no-such-model-x",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 1,
        },
    )
    with serving(store, registry) as service, client() as http:
        post(
            http,
            service,
            "/v1/traces",
            trace_request([openlit, litellm, agent, unknown], {"service.name": "app"}),
        )
    rows = {row["span_id"]: row for row in events_by_id(store).values()}
    assert rows["0000000000000001"]["reported_cost_usd"] == Decimal("0.00021")
    # 1000 x 1.5e-7 + 100 x 6e-7
    assert rows["0000000000000001"]["cost_usd"] == Decimal("0.00021")
    assert rows["0000000000000002"]["reported_cost_usd"] == Decimal("0.0003")
    assert rows["0000000000000002"]["cost_usd"] == Decimal("0.0003")
    assert rows["0000000000000003"]["input_tokens"] == 0
    assert rows["0000000000000003"]["reported_cost_usd"] is None
    assert rows["0000000000000003"]["latency_ms"] == 4000
    assert rows["0000000000000003"]["operation"] == "invoke_agent"
    assert rows["0000000000000004"]["cost_status"] == "unpriced"
    assert rows["0000000000000004"]["cost_usd"] is None


def test_event_time_picks_rate_card(store, registry, tmp_path):
    card = tmp_path / "card.json"
    card.write_text(
        '{"claude-sonnet-4-5": {"input_cost_per_token": 1e-05, '
        '"output_cost_per_token": 2e-05, "litellm_provider": "anthropic"}}'
    )
    from otel_cost.pricing.registry import load_registry

    cards = load_registry([f"{card}@2026-09-01"])
    attrs = {
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
    }
    before = span(1, attrs)  # 2026-08-20: built-in card
    after = span(2, attrs, start_ns=T0_NS + 20 * 86400 * 10**9)  # 2026-09-09: new card
    with serving(store, cards) as service, client() as http:
        post(
            http,
            service,
            "/v1/traces",
            trace_request([before, after], {"service.name": "a"}),
        )
    rows = {row["span_id"]: row for row in events_by_id(store).values()}
    # 100 x 3e-6 + 10 x 1.5e-5, then 100 x 1e-5 + 10 x 2e-5
    assert rows["0000000000000001"]["cost_usd"] == Decimal("0.00045")
    assert rows["0000000000000002"]["cost_usd"] == Decimal("0.0012")
    assert rows["0000000000000002"]["ts"].isoformat().startswith("2026-09-09")


def test_claude_code_json_export_fixture(store, registry):
    fixture = Path(__file__).parent / "fixtures" / "serve" / "claude-code-logs.json"
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/logs",
            content=gzip.compress(fixture.read_bytes()),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert reply.status_code == 200
        assert reply.json() == {}
    rows = events_by_id(store)
    assert sorted(rows) == [
        "claude-code:req:req_011CVxyzA1",
        "claude-code:tool:toolu_01Read",
    ]
    request = rows["claude-code:req:req_011CVxyzA1"]
    # 3 x 3e-6 + 21004 x 3e-7 + 1530 x 3.75e-6 + 412 x 1.5e-5
    assert request["cost_usd"] == Decimal("0.0182277")
    assert request["reported_cost_usd"] == Decimal("0.01821645")
    assert request["resolved_model"] == "claude-sonnet-4-5-20250929"
    assert request["team"] == "platform"
    assert request["cost_center"] == "eng-123"
    assert request["user"] == "dev@example.com"
    assert request["session_id"] == "7d1c9a40-5a8e-4f0e-9a51-3f2e1b7c0d11"
    assert request["latency_ms"] == 6210
    assert request["ts"].isoformat().startswith("2026-08-20T10:00:04")
    tool = rows["claude-code:tool:toolu_01Read"]
    assert tool["tool_name"] == "Read"
    assert tool["latency_ms"] == 35
    assert tool["outcome"] == "ok"


def test_proxied_requests_skipped_tools_kept(store, registry):
    resource = {**CLAUDE, "otel_cost.capture": "proxy", "otel_cost.project": "shop"}
    request = log_record(
        {
            "event.name": "api_request",
            "model": "claude-sonnet-4-5",
            "input_tokens": "10",
            "output_tokens": "1",
            "request_id": "r1",
        }
    )
    request.body.string_value = "claude_code.api_request"
    tool = log_record(
        {
            "event.name": "tool_result",
            "tool_name": "Edit",
            "tool_use_id": "toolu_9",
            "success": "true",
            "duration_ms": "12",
        }
    )
    tool.body.string_value = "claude_code.tool_result"
    with serving(store, registry) as service, client() as http:
        post(http, service, "/v1/logs", log_request([request, tool], resource))
    rows = events_by_id(store)
    assert list(rows) == ["claude-code:tool:toolu_9"]
    assert rows["claude-code:tool:toolu_9"]["project"] == "shop"


def test_claude_fast_mode_priced(store, registry):
    record = log_record(
        {
            "event.name": "claude_code.api_request",
            "model": "claude-opus-4-6",
            "input_tokens": "100",
            "output_tokens": "10",
            "speed": "fast",
            "request_id": "req_fast",
        }
    )
    with serving(store, registry) as service, client() as http:
        post(http, service, "/v1/logs", log_request([record], CLAUDE))
    row = events_by_id(store)["claude-code:req:req_fast"]
    # (100 x 5e-6 + 10 x 2.5e-5) x 6 for fast mode
    assert row["cost_usd"] == Decimal("0.0045")
    assert row["attributes"]["speed"] == "fast"
