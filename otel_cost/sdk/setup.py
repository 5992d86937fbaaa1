"""Building the tracer provider from the standard ``OTEL_*`` variables.

``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` shape the resource;
``OTEL_TRACES_EXPORTER`` picks ``otlp`` (default), ``console`` or ``none``;
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL`` pick
``http/protobuf`` (default) or ``grpc``; the exporters read their endpoint,
headers, timeout and compression variables themselves. With no endpoint set,
spans go to a running ``otel-cost serve`` when there is one.
"""

from __future__ import annotations

import logging
import os

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

from otel_cost.capture.sink import running_service
from otel_cost.errors import ConfigError

logger = logging.getLogger(__name__)

ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def build_tracer_provider(service_name: str | None = None) -> TracerProvider:
    """Return a tracer provider with a batching exporter chosen from the environment."""
    resource = Resource.create({"service.name": service_name} if service_name else {})
    provider = TracerProvider(resource=resource)
    exporter = build_exporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def build_exporter() -> SpanExporter | None:
    """Return the span exporter named by ``OTEL_TRACES_EXPORTER``, or None for none."""
    choice = (
        os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")[0].strip().lower()
    )
    if choice == "none":
        return None
    if choice == "console":
        return ConsoleSpanExporter()
    if choice != "otlp":
        raise ConfigError(
            f"unsupported OTEL_TRACES_EXPORTER {choice!r}; expected otlp, console or none"
        )
    return _otlp_exporter(_protocol())


def _protocol() -> str:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol == "http/json":
        # The Python SDK ships no JSON exporter; protobuf reaches the same receivers.
        logger.warning("OTLP http/json is not supported here; sending http/protobuf")
        return "http/protobuf"
    if protocol not in ("grpc", "http/protobuf"):
        raise ConfigError(
            f"unsupported OTLP protocol {protocol!r}; expected grpc or http/protobuf"
        )
    return protocol


def _otlp_exporter(protocol: str) -> SpanExporter:
    endpoint = None
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        service = running_service()
        if service and service.get("otlp_http_url") and protocol == "http/protobuf":
            endpoint = str(service["otlp_http_url"]).rstrip("/") + "/v1/traces"
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=endpoint)
