"""Token counts that are too large or not whole, on every path usage enters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from serve_support import (
    client,
    log_record,
    log_request,
    serving,
    span,
    trace_request,
)

from otel_cost.capture.importers.record_fields import RecordError, tokens
from otel_cost.cli.main import cli
from otel_cost.errors import UsageFormatError
from otel_cost.events import TokenCategory
from otel_cost.events_json import InvalidEventError, event_from_json
from otel_cost.normalise.usage import MAX_TOKENS_PER_CATEGORY, count

LIMIT = 10_000_000_000


def test_count_accepts_whole_numbers() -> None:
    assert MAX_TOKENS_PER_CATEGORY == LIMIT
    assert count(LIMIT, "output") == LIMIT
    assert count(100.0, "output") == 100
    assert type(count(100.0, "output")) is int
    assert count("42", "output") == 42
    assert count("42.0", "output") == 42
    assert count(None, "output") == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (LIMIT + 1, "output is 10000000001, above the maximum of 10000000000"),
        (2**64, "output is 18446744073709551616, above the maximum"),
        (float(2**64), "output is 18446744073709551616, above the maximum"),
        # A count of hundreds of digits is shown in exponent form.
        (1e300, "output is 1.000e+300, above the maximum"),
        (1.5, "output must be a whole number of tokens, got 1.5"),
        (float("inf"), "output must be a whole number of tokens, got inf"),
        (float("nan"), "output must be a whole number of tokens, got nan"),
        ("2.5", "output must be a whole number of tokens, got 2.5"),
        ("lots", "output must be a number of tokens, got 'lots'"),
        (-1.0, "output must not be negative, got -1"),
    ],
)  # fmt: skip
def test_count_rejects_bad_values(value: object, message: str) -> None:
    with pytest.raises(UsageFormatError) as raised:
        count(value, "output")
    assert message in str(raised.value)


def test_count_custom_maximum() -> None:
    epoch_ms = 1_787_400_000_000
    assert count(epoch_ms, "start_time_ms", maximum=2**63 - 1) == epoch_ms
    with pytest.raises(UsageFormatError, match="start_time_ms is 1787400000000"):
        count(epoch_ms, "start_time_ms")


def test_importer_tokens_capped() -> None:
    assert tokens({"output": float(LIMIT)}, "output") == LIMIT
    with pytest.raises(RecordError, match="output is 10000000001, above the maximum"):
        tokens({"output": LIMIT + 1}, "output")


def test_event_json_integral_float_usage() -> None:
    event = event_from_json(
        {
            "event_id": "f",
            "ts": "2026-08-20T10:00:00Z",
            "harness": "curl",
            "source": "api",
            "usage": {"input": 100.0, "output": 7},
        }
    )
    assert event.usage.tokens == {TokenCategory.INPUT: 100, TokenCategory.OUTPUT: 7}
    assert type(event.usage.tokens[TokenCategory.INPUT]) is int


@pytest.mark.parametrize("ts", ["1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z"])
def test_event_json_time_out_of_range(ts: str) -> None:
    payload = {"event_id": "t", "ts": ts, "harness": "curl", "source": "api"}
    with pytest.raises(InvalidEventError, match="is outside 2000-01-01 to 2100-01-01"):
        event_from_json(payload)


def api_event(event_id: str, usage: dict[str, object]) -> dict[str, object]:
    return {
        "event_id": event_id,
        "ts": datetime.now(UTC).isoformat(),
        "harness": "curl",
        "source": "api",
        "session_id": "s",
        "model": "claude-sonnet-4-5",
        "usage": usage,
    }


def test_events_route_rejects_bad_counts(store, registry) -> None:
    events = [
        api_event("ok", {"input": 1000, "output": 100}),
        api_event("float-ok", {"input": 1000.0, "output": 100.0}),
        api_event("at-limit", {"output": LIMIT}),
        api_event("huge", {"input": 5, "output": 2**64}),
        api_event("over", {"input": 5, "output": 10**18}),
        api_event("fraction", {"input": 1.5}),
    ]
    # orjson cannot write 2**64, but the stdlib writes its digits. The service's
    # parser reads them back as a float.
    body = json.dumps({"events": events}).encode()
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['api_url']}/api/v1/events",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        all_bad = http.post(
            f"{service.urls['api_url']}/api/v1/events",
            content=orjson.dumps({"events": [api_event("x", {"output": 0.5})]}),
            headers={"Content-Type": "application/json"},
        )

    assert reply.status_code == 200
    document = reply.json()
    assert document["accepted"] == 3
    assert document["rejected"] == 3
    errors = {item["index"]: item["error"] for item in document["errors"]}
    assert errors[3] == (
        "invalid cost event field 'usage/output': "
        "1.8446744073709552e+19 is greater than the maximum of 10000000000"
    )
    assert errors[4] == (
        "invalid cost event field 'usage/output': "
        "1000000000000000000 is greater than the maximum of 10000000000"
    )
    assert errors[5] == (
        "invalid cost event field 'usage/input': 1.5 is not of type 'integer'"
    )
    assert all_bad.status_code == 400
    assert all_bad.json()["errors"][0]["index"] == 0

    rows = store.query_dicts(
        "SELECT event_id, input_tokens, output_tokens, cost_usd "
        "FROM cost_events FINAL ORDER BY event_id"
    )
    assert [row["event_id"] for row in rows] == ["at-limit", "float-ok", "ok"]
    # 1000 x 3e-6 + 100 x 1.5e-5 for both small events.
    assert rows[1]["input_tokens"] == 1000
    assert rows[1]["output_tokens"] == 100
    assert rows[1]["cost_usd"] == Decimal("0.0045")
    assert rows[2]["cost_usd"] == Decimal("0.0045")
    # 10**10 x 1.5e-5
    assert rows[0]["output_tokens"] == LIMIT
    assert rows[0]["cost_usd"] == Decimal("150000")


def test_otlp_spans_reject_bad_doubles(store, registry) -> None:
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 1000,
    }
    spans = [
        span(1, {**base, "gen_ai.usage.output_tokens": 100.0}),
        span(2, {**base, "gen_ai.usage.output_tokens": 100.7}),
        span(3, {**base, "gen_ai.usage.output_tokens": 2**62}),
    ]
    request = trace_request(spans, {"service.name": "agent-x"})
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )

    assert reply.status_code == 200
    response = ExportTraceServiceResponse.FromString(reply.content)
    assert response.partial_success.rejected_spans == 2
    message = response.partial_success.error_message
    assert message.startswith("rejected 2 of 3 spans")
    assert "gen_ai.usage.output_tokens must be a whole number of tokens, got 100.7" in (
        message
    )
    assert (
        "gen_ai.usage.output_tokens is 4611686018427387904, above the maximum "
        "of 10000000000" in message
    )
    rows = store.query_dicts("SELECT output_tokens, cost_usd FROM cost_events FINAL")
    assert len(rows) == 1
    assert rows[0]["output_tokens"] == 100
    # 1000 x 3e-6 + 100 x 1.5e-5
    assert rows[0]["cost_usd"] == Decimal("0.0045")


def test_otlp_logs_reject_huge_counts(store, registry) -> None:
    def api_request(request_id: str, output_tokens: object):
        return log_record(
            {
                "event.name": "claude_code.api_request",
                "model": "claude-sonnet-4-5",
                "input_tokens": 1000,
                "output_tokens": output_tokens,
                "request_id": request_id,
            }
        )

    records = [api_request("req_ok", 100), api_request("req_big", LIMIT + 1)]
    request = log_request(records, {"service.name": "claude-code"})
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/logs",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
    response = ExportLogsServiceResponse.FromString(reply.content)
    assert response.partial_success.rejected_log_records == 1
    assert "output_tokens is 10000000001, above the maximum of 10000000000" in (
        response.partial_success.error_message
    )
    rows = store.query_dicts("SELECT event_id, output_tokens FROM cost_events FINAL")
    assert rows == [{"event_id": "claude-code:req:req_ok", "output_tokens": 100}]


def run_price(usage: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["price", "--model", "gpt-5", "--usage-format", "openai", "--usage", usage,
         "--json"],
    )  # fmt: skip
    return result.exit_code, result.output


def test_price_cli_whole_counts_only() -> None:
    code, output = run_price('{"prompt_tokens": 1000.0, "completion_tokens": 100}')
    assert code == 0
    # 1000 x 1.25e-6 + 100 x 1e-5
    assert json.loads(output)["total_usd"] == "0.00225"
    code, output = run_price('{"prompt_tokens": 1000.5, "completion_tokens": 100}')
    assert code == 2
    assert "prompt_tokens must be a whole number of tokens, got 1000.5" in output
    code, output = run_price('{"prompt_tokens": 10000000001}')
    assert code == 2
    assert "prompt_tokens is 10000000001, above the maximum of 10000000000" in output


def test_events_route_bug_gets_500(store, registry, monkeypatch) -> None:
    # A failing price() simulates any unexpected exception in the route.
    def broken_price(event, registry):
        raise TypeError("unsupported operand")

    monkeypatch.setattr("otel_cost.serve.api.price", broken_price)
    events = [api_event("ok", {"input": 1000, "output": 100})]
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['api_url']}/api/v1/events",
            content=orjson.dumps({"events": events}),
            headers={"Content-Type": "application/json"},
        )
    assert reply.status_code == 500
    assert reply.json() == {"error": "internal error: unsupported operand"}
