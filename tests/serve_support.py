"""Helpers shared by the serve tests: a running service and OTLP builders."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_cost.pricing.registry import PricingRegistry
from otel_cost.serve.service import ServeConfig, Service
from otel_cost.store import Store

# 2026-08-20T10:00:00Z, after the built-in rate card takes effect.
T0_NS = 1_787_220_000_000_000_000


@contextlib.contextmanager
def serving(
    store: Store, registry: PricingRegistry, **overrides: Any
) -> Iterator[Service]:
    """Run a service on free loopback ports against the test's database.

    The service acknowledges once events are journaled, as by default. A
    test that reads events back while the service runs passes
    ``ack="store"``, so they are queryable as soon as the response arrives.
    """
    settings = ServeConfig(
        dsn=store.dsn,
        database=store.database,
        grpc_port=0,
        http_port=0,
        api_port=0,
        **overrides,
    )
    service = Service(settings, registry)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def client() -> httpx.Client:
    """An HTTP client that ignores proxy settings of the environment."""
    return httpx.Client(trust_env=False, timeout=30)


def value(item: Any) -> AnyValue:
    """Return the AnyValue of a Python value."""
    if isinstance(item, bool):
        return AnyValue(bool_value=item)
    if isinstance(item, int):
        return AnyValue(int_value=item)
    if isinstance(item, float):
        return AnyValue(double_value=item)
    return AnyValue(string_value=str(item))


def key_values(attrs: Mapping[str, Any]) -> list[KeyValue]:
    """Return attributes as KeyValues."""
    return [KeyValue(key=key, value=value(item)) for key, item in attrs.items()]


def span(
    span_number: int,
    attrs: Mapping[str, Any],
    trace_number: int = 1,
    start_ns: int = T0_NS,
    duration_ms: int = 250,
    name: str = "chat",
) -> Span:
    """Return a span with ids derived from small numbers."""
    return Span(
        trace_id=trace_number.to_bytes(16, "big"),
        span_id=span_number.to_bytes(8, "big"),
        name=name,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ms * 1_000_000,
        attributes=key_values(attrs),
    )


def trace_request(
    spans: list[Span], resource: Mapping[str, Any]
) -> ExportTraceServiceRequest:
    """Return an export request of spans under one resource."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values(resource))
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


def log_request(
    records: list[LogRecord], resource: Mapping[str, Any]
) -> ExportLogsServiceRequest:
    """Return an export request of log records under one resource."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(key_values(resource))
    resource_logs.scope_logs.add().log_records.extend(records)
    return request


def log_record(attrs: Mapping[str, Any], time_ns: int = T0_NS) -> LogRecord:
    """Return a log record with the given attributes."""
    return LogRecord(time_unix_nano=time_ns, attributes=key_values(attrs))


def totals(store: Store) -> dict[str, Any]:
    """Return event count and cost sums from the events table and the rollup."""
    events = store.query_dicts(
        "SELECT count() AS events, sum(cost_usd) AS cost, sum(reported_cost_usd) AS reported "
        "FROM cost_events FINAL"
    )[0]
    rollup = store.query_dicts(
        "SELECT sum(events) AS events, sum(cost_usd) AS cost FROM cost_rollup_15m"
    )[0]
    return {
        "events": events["events"],
        "cost": events["cost"] or Decimal(0),
        "reported": events["reported"],
        "rollup_events": rollup["events"],
        "rollup_cost": rollup["cost"] or Decimal(0),
    }
