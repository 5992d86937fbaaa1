"""OTLP over gRPC and HTTP into a running service on the embedded engine."""

from __future__ import annotations

import gzip
from decimal import Decimal

import pytest
from grpc import Compression
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_support import T0_NS, client, serving, span, totals, trace_request

ANTHROPIC_SPAN = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.cache_read.input_tokens": 600,
    "gen_ai.usage.cache_creation.input_tokens": 200,
    "gen_ai.usage.output_tokens": 100,
}
# 200 uncached x 3e-6 + 600 reads x 3e-7 + 200 writes x 3.75e-6 + 100 out x 1.5e-5
ANTHROPIC_COST = Decimal("0.00303")


def sdk_spans(
    resource: dict[str, str], spans: list[tuple[str, dict[str, object]]]
) -> list:
    """Record spans with the SDK and return them as ReadableSpans."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test-agent")
    for offset, (name, attrs) in enumerate(spans):
        started = T0_NS + offset * 1_000_000_000
        item = tracer.start_span(name, attributes=attrs, start_time=started)
        item.end(end_time=started + 1_500_000_000)
    return list(memory.get_finished_spans())


def test_grpc_exporter_stores_priced_span(store, registry):
    spans = sdk_spans(
        {"service.name": "my-agent", "project": "checkout", "team": "payments"},
        [("chat claude-sonnet-4-5", ANTHROPIC_SPAN)],
    )
    with serving(store, registry) as service:
        port = service.urls["otlp_grpc_url"].rsplit(":", 1)[1]
        exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True)
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
    row = store.query_dicts("SELECT * FROM cost_events FINAL")[0]
    assert row["cost_usd"] == ANTHROPIC_COST
    assert row["input_tokens"] == 200
    assert row["cache_read_tokens"] == 600
    assert row["cache_write_5m_tokens"] == 200
    assert row["output_tokens"] == 100
    assert row["project"] == "checkout"
    assert row["team"] == "payments"
    assert row["harness"] == "my-agent"
    assert row["provider"] == "anthropic"
    assert row["latency_ms"] == 1500
    assert row["ts"].isoformat().startswith("2026-08-20T10:00:00")
    assert (
        row["event_id"]
        == f"otlp:{spans[0].context.trace_id:032x}:{spans[0].context.span_id:016x}"
    )


def test_http_exporter_gzip_openai_span(store, registry):
    attrs = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 2000,
        "gen_ai.usage.cache_read_input_tokens": 1000,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.reasoning.output_tokens": 100,
    }
    spans = sdk_spans({"service.name": "svc", "user": "ana"}, [("chat gpt-4o", attrs)])
    with serving(store, registry) as service:
        from opentelemetry.exporter.otlp.proto.http import Compression

        exporter = HttpSpanExporter(
            endpoint=f"{service.urls['otlp_http_url']}/v1/traces",
            compression=Compression.Gzip,
        )
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
    row = store.query_dicts("SELECT * FROM cost_events FINAL")[0]
    # 1000 in x 2.5e-6 + 1000 cached x 1.25e-6 + 400 out x 1e-5 + 100 reasoning x 1e-5
    assert row["cost_usd"] == Decimal("0.00875")
    assert row["reasoning_tokens"] == 100
    assert row["output_tokens"] == 400
    assert row["provider"] == "openai"
    assert row["user"] == "ana"


def test_same_batch_three_times_counts_once(store, registry):
    spans = sdk_spans(
        {"service.name": "a"}, [("chat", ANTHROPIC_SPAN), ("chat", ANTHROPIC_SPAN)]
    )
    with serving(store, registry) as service:
        port = service.urls["otlp_grpc_url"].rsplit(":", 1)[1]
        exporter = GrpcSpanExporter(
            endpoint=f"127.0.0.1:{port}", insecure=True, compression=Compression.Gzip
        )
        for _ in range(3):
            assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
        body = trace_request([span(7, ANTHROPIC_SPAN)], {"service.name": "a"})
        with client() as http:
            for _ in range(3):
                reply = http.post(
                    f"{service.urls['otlp_http_url']}/v1/traces",
                    content=body.SerializeToString(),
                    headers={"Content-Type": "application/x-protobuf"},
                )
                assert reply.status_code == 200
    result = totals(store)
    assert result["events"] == 3
    assert result["cost"] == ANTHROPIC_COST * 3
    assert result["rollup_events"] == 3
    assert result["rollup_cost"] == ANTHROPIC_COST * 3


def test_partial_success_names_bad_spans(store, registry):
    good = span(1, ANTHROPIC_SPAN)
    bad_usage = span(2, {**ANTHROPIC_SPAN, "gen_ai.usage.input_tokens": 10})
    no_ids = span(3, ANTHROPIC_SPAN)
    no_ids.span_id = b""
    ignored = span(4, {"http.method": "GET"})
    body = trace_request([good, bad_usage, no_ids, ignored], {"service.name": "a"})
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=gzip.compress(body.SerializeToString()),
            headers={
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "gzip",
            },
        )
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/x-protobuf"
        response = ExportTraceServiceResponse.FromString(reply.content)
        metrics_page = http.get(f"{service.urls['api_url']}/metrics").text
    assert response.partial_success.rejected_spans == 2
    message = response.partial_success.error_message
    assert message.startswith("rejected 2 of 4 spans")
    assert "gen_ai.usage.input_tokens is 10, smaller than the 800 tokens" in message
    assert "span_id '' is not 8 non-zero bytes" in message
    assert totals(store)["events"] == 1
    assert (
        'otel_cost_serve_rejected_items_total{signal="traces",reason="invalid"} 2'
        in metrics_page
    )
    assert 'otel_cost_serve_ignored_items_total{signal="traces"} 1' in metrics_page


def test_json_body_with_hex_ids(store, registry):
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "json-agent"}},
                        {"key": "cost_center", "value": {"stringValue": "cc-42"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "s"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat claude-sonnet-4-5",
                                "kind": 3,
                                "startTimeUnixNano": str(T0_NS),
                                "endTimeUnixNano": str(T0_NS + 2_000_000_000),
                                "unknownField": {"ignored": True},
                                "attributes": [
                                    {
                                        "key": k,
                                        "value": {"intValue": str(v)}
                                        if isinstance(v, int)
                                        else {"stringValue": v},
                                    }
                                    for k, v in ANTHROPIC_SPAN.items()
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    import orjson

    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=orjson.dumps(document),
            headers={"Content-Type": "application/json"},
        )
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/json"
        assert reply.json() == {}
    row = store.query_dicts("SELECT * FROM cost_events FINAL")[0]
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert row["span_id"] == "eee19b7ec3c1b174"
    assert row["event_id"] == "otlp:5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174"
    assert row["cost_center"] == "cc-42"
    assert row["latency_ms"] == 2000
    assert row["cost_usd"] == ANTHROPIC_COST


def test_bad_bodies_get_clear_errors(store, registry):
    with serving(store, registry) as service, client() as http:
        url = f"{service.urls['otlp_http_url']}/v1/traces"
        broken = http.post(
            url,
            content=b"\x0a\xff\xff\xff",
            headers={"Content-Type": "application/x-protobuf"},
        )
        wrong_types = http.post(
            url,
            content=b'{"resourceSpans": "nope"}',
            headers={"Content-Type": "application/json"},
        )
        bad_hex = http.post(
            url,
            content=b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}',
            headers={"Content-Type": "application/json"},
        )
        wrong_type = http.post(
            url, content=b"x", headers={"Content-Type": "text/plain"}
        )
        wrong_path = http.post(
            f"{service.urls['otlp_http_url']}/v1/profiles",
            content=b"",
            headers={"Content-Type": "application/json"},
        )
        empty = http.post(
            url, content=b"", headers={"Content-Type": "application/x-protobuf"}
        )
        page = http.get(f"{service.urls['api_url']}/metrics").text
    assert broken.status_code == 400
    assert wrong_types.status_code == 400
    assert "invalid OTLP/JSON body" in wrong_types.json()["message"]
    assert bad_hex.status_code == 400
    assert "traceId must be a hex string" in bad_hex.json()["message"]
    assert wrong_type.status_code == 415
    assert "unsupported Content-Type" in wrong_type.json()["message"]
    assert wrong_path.status_code == 404
    assert (
        'otel_cost_serve_failed_requests_total{path="/v1/traces",status="400"} 3'
        in page
    )
    assert empty.status_code == 200
    assert empty.content == b""


def test_other_methods_get_405(store, registry):
    with serving(store, registry) as service, client() as http:
        base = service.urls["otlp_http_url"]
        get = http.get(f"{base}/v1/traces")
        head = http.head(f"{base}/v1/logs")
        put = http.put(f"{base}/v1/metrics", content=b"x")
        unknown_path = http.get(f"{base}/v1/profiles")
        still_serving = http.post(
            f"{base}/v1/traces",
            content=b"",
            headers={"Content-Type": "application/x-protobuf"},
        )
    assert get.status_code == 405
    assert get.headers["Allow"] == "POST"
    assert get.headers["Content-Type"] == "application/json"
    assert get.json()["code"] == 12
    assert get.json()["message"] == (
        "method GET is not allowed at '/v1/traces'; use POST"
    )
    assert head.status_code == 405
    assert head.headers["Allow"] == "POST"
    assert head.content == b""
    assert put.status_code == 405
    assert put.headers["Allow"] == "POST"
    assert unknown_path.status_code == 404
    assert unknown_path.json() == {"error": "no endpoint at '/v1/profiles'"}
    assert still_serving.status_code == 200


def test_grpc_garbage_body_invalid_argument(store, registry):
    import grpc

    methods = [
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    ]
    errors = {}
    with serving(store, registry) as service:
        port = service.urls["otlp_grpc_url"].rsplit(":", 1)[1]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            for method in methods:
                export = channel.unary_unary(method)
                with pytest.raises(grpc.RpcError) as caught:
                    export(b"\x0a\xff\xff\xff", timeout=30)
                errors[method] = caught.value
            valid = channel.unary_unary(methods[0])(b"", timeout=30)
    for method in methods:
        assert errors[method].code() == grpc.StatusCode.INVALID_ARGUMENT, method
        assert errors[method].details().startswith("invalid protobuf body"), method
    assert valid == b""


def test_grpc_partial_success_and_logs(store, registry):
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import (
        InMemoryLogRecordExporter,
        SimpleLogRecordProcessor,
    )

    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "claude-code"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.get_logger("com.anthropic.claude_code.events").emit(
        timestamp=T0_NS,
        body="claude_code.api_request",
        attributes={
            "event.name": "claude_code.api_request",
            "model": "claude-sonnet-4-5",
            "input_tokens": 1000,
            "output_tokens": 100,
            "cost_usd": 0.0045,
            "request_id": "req_grpc",
        },
    )
    records = memory.get_finished_logs()
    bad = trace_request(
        [span(1, {**ANTHROPIC_SPAN, "gen_ai.usage.output_tokens": -5})],
        {"service.name": "a"},
    )
    with serving(store, registry) as service:
        address = service.urls["otlp_grpc_url"].removeprefix("http://")
        exporter = OTLPLogExporter(endpoint=address, insecure=True)
        assert exporter.export(records).name == "SUCCESS"
        exporter.shutdown()
        with grpc.insecure_channel(address) as channel:
            response = trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                bad, timeout=10
            )
    assert response.partial_success.rejected_spans == 1
    assert "gen_ai.usage.output_tokens must not be negative, got -5" in (
        response.partial_success.error_message
    )
    row = store.query_dicts("SELECT * FROM cost_events FINAL")[0]
    assert row["event_id"] == "claude-code:req:req_grpc"
    # 1000 x 3e-6 + 100 x 1.5e-5
    assert row["cost_usd"] == Decimal("0.0045")
    assert row["reported_cost_usd"] == Decimal("0.0045")


def test_metrics_accepted_with_warning(store, registry):
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
        OTLPMetricExporter,
    )
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    )
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("claude-code")
    counter = meter.create_counter("claude_code.cost.usage", unit="USD")
    counter.add(0.5, {"model": "claude-sonnet-4-5"})
    counter.add(0.25, {"model": "claude-haiku-4-5"})
    data = reader.get_metrics_data()
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "claude_code.token.usage"
    metric.sum.data_points.add(as_int=10)
    with serving(store, registry) as service, client() as http:
        address = service.urls["otlp_grpc_url"].removeprefix("http://")
        exporter = OTLPMetricExporter(endpoint=address, insecure=True)
        assert exporter.export(data).name == "SUCCESS"
        exporter.shutdown()
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/metrics",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        page = http.get(f"{service.urls['api_url']}/metrics").text
    response = ExportMetricsServiceResponse.FromString(reply.content)
    assert reply.status_code == 200
    assert response.partial_success.rejected_data_points == 0
    assert response.partial_success.error_message.startswith(
        "otel-cost does not store metrics"
    )
    assert (
        'otel_cost_serve_received_items_total{signal="metrics",transport="grpc"} 2'
        in page
    )
    assert (
        'otel_cost_serve_received_items_total{signal="metrics",transport="http"} 1'
        in page
    )
    assert totals(store)["events"] == 0


def test_gzip_members_all_read(store, registry):
    first = trace_request([span(1, ANTHROPIC_SPAN)], {"service.name": "a"})
    second = trace_request([span(2, ANTHROPIC_SPAN)], {"service.name": "a"})
    # Two gzip members one after another, as `cat a.gz b.gz` makes; protobuf
    # messages concatenated are one message holding both resource lists.
    body = gzip.compress(first.SerializeToString()) + gzip.compress(
        second.SerializeToString()
    )
    cut = gzip.compress(first.SerializeToString())[:-6]
    with serving(store, registry) as service, client() as http:
        url = f"{service.urls['otlp_http_url']}/v1/traces"
        headers = {
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        }
        whole = http.post(url, content=body, headers=headers)
        truncated = http.post(url, content=cut, headers=headers)
    assert whole.status_code == 200
    assert truncated.status_code == 400
    result = totals(store)
    assert result["events"] == 2
    assert result["cost"] == 2 * ANTHROPIC_COST


def test_huge_reported_cost_rejected_alone(store, registry):
    good = [span(number, ANTHROPIC_SPAN) for number in range(1, 60)]
    huge = span(60, {**ANTHROPIC_SPAN, "gen_ai.usage.cost": 1e300})
    body = trace_request([*good, huge], {"service.name": "a"})
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=body.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
    assert reply.status_code == 200
    response = ExportTraceServiceResponse.FromString(reply.content)
    assert response.partial_success.rejected_spans == 1
    message = response.partial_success.error_message
    assert "gen_ai.usage.cost must be below 1000000000000 USD" in message
    result = totals(store)
    assert result["events"] == 59
    assert result["cost"] == 59 * ANTHROPIC_COST


def test_long_response_ids_stay_distinct(store, registry):
    shared = "msg_" + "a" * 1100
    spans = [
        span(1, {**ANTHROPIC_SPAN, "gen_ai.response.id": shared + "-one"}),
        span(2, {**ANTHROPIC_SPAN, "gen_ai.response.id": shared + "-two"}),
    ]
    body = trace_request(spans, {"service.name": "claude-code"})
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=body.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
    assert reply.status_code == 200
    result = totals(store)
    assert result["events"] == 2
    assert result["cost"] == 2 * ANTHROPIC_COST
    ids = [row[0] for row in store.query("SELECT event_id FROM cost_events")]
    assert all(len(event_id) <= len("claude-code:") + 1024 for event_id in ids)


def test_event_times_outside_range_rejected(store, registry):
    early = span(1, ANTHROPIC_SPAN, start_ns=1)
    late = span(2, ANTHROPIC_SPAN, start_ns=2**64 - 10**9)
    good = span(3, ANTHROPIC_SPAN)
    body = trace_request([early, late, good], {"service.name": "a"})
    with serving(store, registry) as service, client() as http:
        reply = http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=body.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
    response = ExportTraceServiceResponse.FromString(reply.content)
    assert response.partial_success.rejected_spans == 2
    message = response.partial_success.error_message
    assert "1970-01-01T00:00:00+00:00 is outside 2000-01-01 to 2100-01-01" in message
    assert "2554-07-21" in message
    assert totals(store)["events"] == 1


def test_long_session_ids_stay_distinct(store, registry):
    shared = "session-" + "b" * 1100
    spans = [
        span(1, {**ANTHROPIC_SPAN, "gen_ai.conversation.id": shared + "-one"}),
        span(2, {**ANTHROPIC_SPAN, "gen_ai.conversation.id": shared + "-two"}),
    ]
    body = trace_request(spans, {"service.name": "a"})
    with serving(store, registry, ack="store") as service, client() as http:
        http.post(
            f"{service.urls['otlp_http_url']}/v1/traces",
            content=body.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        events = http.get(
            f"{service.urls['api_url']}/api/v1/sessions/{shared}-one/events"
        ).json()["events"]
    sessions = store.query("SELECT uniqExact(session_id) FROM cost_events")[0][0]
    assert sessions == 2
    assert len(events) == 1
