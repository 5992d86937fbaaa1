"""OTLP/gRPC: the TraceService and LogsService ``Export`` methods.

grpcio handles gzip message compression and enforces the 64 MiB receive limit
(RESOURCE_EXHAUSTED, which clients do not retry). Overload and an unavailable
store end the call with UNAVAILABLE plus a ``google.rpc.RetryInfo``, the
retryable signal of the OTLP specification.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import grpc  # type: ignore[import-untyped]
from google.protobuf.duration_pb2 import Duration  # type: ignore[import-untyped]
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1 import (
    logs_service_pb2,
    logs_service_pb2_grpc,
)
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)

from otel_cost.errors import ConfigError
from otel_cost.serve.otlp_decode import MAX_REQUEST_BYTES
from otel_cost.serve.pipeline import (
    OverloadedError,
    UnavailableError,
    WriteRejectedError,
)
from otel_cost.serve.receiver import ExportOutcome, Receiver

logger = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 5
WORKERS = 8
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class _Guard:
    """Token check and retryable aborts shared by both services."""

    def __init__(self, receiver: Receiver, auth: Any) -> None:
        self.receiver = receiver
        self.auth = auth

    def check_token(self, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        header = metadata.get("authorization")
        if not self.auth.allows(header if isinstance(header, str) else None):
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required"
            )

    def retryable(self, context: Any, message: str) -> NoReturn:
        retry = error_details_pb2.RetryInfo(
            retry_delay=Duration(seconds=RETRY_DELAY_SECONDS)
        )
        status = status_pb2.Status(
            code=grpc.StatusCode.UNAVAILABLE.value[0], message=message
        )
        status.details.add().Pack(retry)
        context.set_trailing_metadata(
            ((STATUS_DETAILS_KEY, status.SerializeToString()),)
        )
        context.abort(grpc.StatusCode.UNAVAILABLE, message)
        raise AssertionError("grpc ServicerContext.abort returned")

    def store(
        self,
        export: Callable[[Any, str], ExportOutcome],
        request: Any,
        context: grpc.ServicerContext,
    ) -> ExportOutcome:
        """Check the token, then store one export or abort with its gRPC status."""
        self.check_token(context)
        try:
            return export(request, "grpc")
        except (OverloadedError, UnavailableError) as exc:
            self.retryable(context, str(exc))
        except WriteRejectedError as exc:
            context.abort(grpc.StatusCode.INTERNAL, str(exc))
            raise AssertionError("grpc ServicerContext.abort returned") from exc


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """Receives spans."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def Export(  # noqa: N802 - the generated method name
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.ServicerContext,
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        """Store the spans of one export."""
        outcome = self.guard.store(self.guard.receiver.export_traces, request, context)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if _partial(outcome):
            response.partial_success.rejected_spans = outcome.rejected
            response.partial_success.error_message = outcome.message
        return response


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    """Receives log records."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def Export(  # noqa: N802 - the generated method name
        self,
        request: logs_service_pb2.ExportLogsServiceRequest,
        context: grpc.ServicerContext,
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        """Store the log records of one export."""
        outcome = self.guard.store(self.guard.receiver.export_logs, request, context)
        response = logs_service_pb2.ExportLogsServiceResponse()
        if _partial(outcome):
            response.partial_success.rejected_log_records = outcome.rejected
            response.partial_success.error_message = outcome.message
        return response


class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    """Accepts metrics and drops them with a warning."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def Export(  # noqa: N802 - the generated method name
        self,
        request: metrics_service_pb2.ExportMetricsServiceRequest,
        context: grpc.ServicerContext,
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        """Count the data points of one export and reply with a warning."""
        self.guard.check_token(context)
        outcome = self.guard.receiver.export_metrics(request, "grpc")
        response = metrics_service_pb2.ExportMetricsServiceResponse()
        if _partial(outcome):
            response.partial_success.error_message = outcome.message
        return response


def _partial(outcome: ExportOutcome) -> bool:
    return bool(outcome.rejected or outcome.message)


def start_grpc_server(
    receiver: Receiver, auth: Any, host: str, port: int
) -> tuple[grpc.Server, int]:
    """Start the gRPC server; return it and the port it bound."""
    server = grpc.server(
        ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="otlp-grpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    guard = _Guard(receiver, auth)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        TraceService(guard), server
    )
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(  # type: ignore[no-untyped-call]
        LogsService(guard), server
    )
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
        MetricsService(guard), server
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise ConfigError(f"cannot bind the OTLP/gRPC port {address}; is it in use?")
    server.start()
    return server, bound
