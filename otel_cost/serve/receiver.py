"""The steps both OTLP transports share for a decoded request: convert, price, write."""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from otel_cost.pricing.registry import PricingRegistry
from otel_cost.serve.convert_pool import LOGS, TRACES, ConvertPool, RemoteConversion
from otel_cost.serve.ingest import Conversion, convert_logs, convert_traces
from otel_cost.serve.pipeline import (
    OverloadedError,
    UnavailableError,
    WritePipeline,
    WriteRejectedError,
)
from otel_cost.serve.self_metrics import SelfMetrics
from otel_cost.store.writer import PreparedEvents

logger = logging.getLogger(__name__)

METRICS_WARNING = (
    "otel-cost does not store metrics; cost is read from spans and log events, "
    "so send metrics to a metrics backend instead"
)
#: Requests with at most this many items convert at once, outside any queue.
SMALL_REQUEST = 50
METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


@dataclass(frozen=True)
class ExportOutcome:
    """The ``partial_success`` of one export: items rejected and why."""

    rejected: int
    message: str


class Receiver:
    """Turn OTLP exports into stored cost events."""

    def __init__(
        self,
        registry: PricingRegistry,
        pipeline: WritePipeline,
        metrics: SelfMetrics,
        pool: ConvertPool | None = None,
    ) -> None:
        self.registry = registry
        self.pipeline = pipeline
        self.metrics = metrics
        self.pool = pool
        # Conversion is pure Python, so requests converted side by side only
        # take turns on the interpreter lock. One at a time leaves the writer
        # thread competing with a single converter instead of every request.
        # Small requests skip that queue (and the workers' queue), so an
        # agent's few spans need not wait behind large batches.
        self._converting = threading.Lock()

    def export_traces(
        self, request: ExportTraceServiceRequest, transport: str
    ) -> ExportOutcome:
        """Store the spans of one request; raise when the client should retry."""
        large = _items(request.resource_spans, "scope_spans", "spans") > SMALL_REQUEST
        remote = self.pool.convert(TRACES, request) if self.pool and large else None
        if remote is not None:
            return self._store_remote(remote, "traces", transport, "spans")
        with self._converting if large else contextlib.nullcontext():
            conversion = convert_traces(request, self.registry)
        return self._store(conversion, "traces", transport, "spans")

    def export_logs(
        self, request: ExportLogsServiceRequest, transport: str
    ) -> ExportOutcome:
        """Store the log records of one request; raise when the client should retry."""
        count = _items(request.resource_logs, "scope_logs", "log_records")
        large = count > SMALL_REQUEST
        remote = self.pool.convert(LOGS, request) if self.pool and large else None
        if remote is not None:
            return self._store_remote(remote, "logs", transport, "log records")
        with self._converting if large else contextlib.nullcontext():
            conversion = convert_logs(request, self.registry)
        return self._store(conversion, "logs", transport, "log records")

    def export_metrics(
        self, request: ExportMetricsServiceRequest, transport: str
    ) -> ExportOutcome:
        """Accept metrics without storing them, and reply with a warning.

        Agents such as Claude Code export metrics to the same endpoint as their
        logs. Their cost metrics repeat what the events carry, so they are
        dropped, and the reply is a warning rather than an error the agent would
        retry or report.
        """
        points = sum(
            _data_points(metric)
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        )
        self.metrics.record_request("metrics", transport, points, 0, points)
        if not points:
            return ExportOutcome(0, "")
        return ExportOutcome(0, METRICS_WARNING)

    def _store_remote(
        self, remote: RemoteConversion, signal: str, transport: str, noun: str
    ) -> ExportOutcome:
        conversion = remote.conversion()
        return self._store(conversion, signal, transport, noun, remote.prepared)

    def _store(
        self,
        conversion: Conversion,
        signal: str,
        transport: str,
        noun: str,
        prepared: PreparedEvents | None = None,
    ) -> ExportOutcome:
        stored = len(prepared.ids) if prepared else len(conversion.events)
        try:
            if prepared is None:
                self.pipeline.submit(conversion.events)
            else:
                self.pipeline.submit_prepared(prepared)
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
            stored,
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


def _items(resources: Any, scopes: str, items: str) -> int:
    """Return how many spans or log records an export request carries."""
    return sum(
        len(getattr(scope, items))
        for resource in resources
        for scope in getattr(resource, scopes)
    )


def _data_points(metric: Metric) -> int:
    kind = metric.WhichOneof("data")
    if kind not in METRIC_KINDS:
        return 0
    return len(getattr(metric, kind).data_points)
