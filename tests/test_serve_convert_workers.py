"""OTLP requests converted in worker processes store the same events."""

from __future__ import annotations

from decimal import Decimal

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from serve_support import client, serving, span, totals, trace_request

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.cache_read.input_tokens": 600,
    "gen_ai.usage.cache_creation.input_tokens": 200,
    "gen_ai.usage.output_tokens": 100,
}
# 200 uncached x 3e-6 + 600 reads x 3e-7 + 200 writes x 3.75e-6 + 100 out x 1.5e-5
CHAT_COST = Decimal("0.00303")
PROTOBUF = {"Content-Type": "application/x-protobuf"}
# Requests of up to 50 spans are converted in the service itself.
LARGE = 60


def post(url: str, body: bytes) -> ExportTraceServiceResponse:
    with client() as http:
        reply = http.post(f"{url}/v1/traces", content=body, headers=PROTOBUF)
    assert reply.status_code == 200
    return ExportTraceServiceResponse.FromString(reply.content)


def test_workers_store_priced_spans(store, registry):
    no_ids = span(3, CHAT)
    no_ids.span_id = b""
    chats = [span(number, CHAT) for number in range(10, 10 + LARGE)]
    spans = [*chats, no_ids, span(4, {"http.method": "GET"})]
    body = trace_request(spans, {"service.name": "a", "user": "ana"})
    with serving(store, registry, convert_workers=1) as service:
        pool = service.receiver.pool
        assert pool is not None
        response = post(service.urls["otlp_http_url"], body.SerializeToString())
        assert pool.converted == 1
    assert response.partial_success.rejected_spans == 1
    assert (
        "span_id '' is not 8 non-zero bytes" in response.partial_success.error_message
    )
    result = totals(store)
    assert result["events"] == LARGE
    assert result["cost"] == LARGE * CHAT_COST
    assert result["rollup_events"] == LARGE
    assert result["rollup_cost"] == LARGE * CHAT_COST
    users = store.query("SELECT DISTINCT user, cost_status FROM cost_events")
    assert users == [("ana", "priced")]


def test_resend_through_workers_counts_once(store, registry):
    first = trace_request([span(n, CHAT) for n in range(1, 61)], {"service.name": "a"})
    # The second request repeats spans 31 to 60 and adds 61 to 90: its block
    # cannot go in as it is, so the service converts it again and deduplicates.
    second = trace_request(
        [span(n, CHAT) for n in range(31, 91)], {"service.name": "a"}
    )
    with serving(store, registry, convert_workers=1) as service:
        pool = service.receiver.pool
        assert pool is not None
        url = service.urls["otlp_http_url"]
        post(url, first.SerializeToString())
        post(url, second.SerializeToString())
        post(url, second.SerializeToString())
        assert pool.converted == 3
    result = totals(store)
    assert result["events"] == 90
    assert result["cost"] == 90 * CHAT_COST
    assert result["rollup_events"] == 90
    assert result["rollup_cost"] == 90 * CHAT_COST
