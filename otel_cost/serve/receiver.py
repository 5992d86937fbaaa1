"""The steps both OTLP transports share for a decoded request: convert, price, write."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from otel_cost.pricing.registry import PricingRegistry
from otel_cost.serve.ingest import Conversion, convert_logs, convert_traces
from otel_cost.serve.pipeline import (
    OverloadedError,
    UnavailableError,
    WritePipeline,
    WriteRejectedError,
)
from otel_cost.serve.self_metrics import SelfMetrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOutcome:
    """The ``partial_success`` of one export: items rejected and why."""

    rejected: int
    message: str


class Receiver:
    """Turn OTLP exports into stored cost events."""

    def __init__(
        self, registry: PricingRegistry, pipeline: WritePipeline, metrics: SelfMetrics
    ) -> None:
        self.registry = registry
        self.pipeline = pipeline
        self.metrics = metrics

    def export_traces(
        self, request: ExportTraceServiceRequest, transport: str
    ) -> ExportOutcome:
        """Store the spans of one request; raise when the client should retry."""
        conversion = convert_traces(request, self.registry)
        return self._store(conversion, "traces", transport, "spans")

    def export_logs(
        self, request: ExportLogsServiceRequest, transport: str
    ) -> ExportOutcome:
        """Store the log records of one request; raise when the client should retry."""
        conversion = convert_logs(request, self.registry)
        return self._store(conversion, "logs", transport, "log records")

    def _store(
        self, conversion: Conversion, signal: str, transport: str, noun: str
    ) -> ExportOutcome:
        try:
            self.pipeline.submit(conversion.events)
        except OverloadedError:
            self.metrics.record_rejected(signal, "overloaded", conversion.received)
            raise
        except UnavailableError:
            self.metrics.record_rejected(signal, "unavailable", conversion.received)
            raise
        except WriteRejectedError:
            self.metrics.record_rejected(signal, "store_rejected", conversion.received)
            raise
        self.metrics.record_request(
            signal,
            transport,
            conversion.received,
            len(conversion.events),
            conversion.ignored,
        )
        if conversion.rejected:
            self.metrics.record_rejected(signal, "invalid", conversion.rejected)
            logger.warning(
                "%s export via %s: %s",
                signal,
                transport,
                conversion.error_message(noun),
            )
        return ExportOutcome(conversion.rejected, conversion.error_message(noun))
