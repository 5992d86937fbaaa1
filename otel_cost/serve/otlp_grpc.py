"""OTLP/gRPC: the TraceService and LogsService ``Export`` methods.

grpcio handles gzip message compression and enforces the 64 MiB receive limit
(RESOURCE_EXHAUSTED, which clients do not retry). Overload and an unavailable
store end the call with UNAVAILABLE plus a ``google.rpc.RetryInfo``, the
retryable signal of the OTLP specification.

The methods receive the raw request bytes and parse them here. grpcio 1.85 ends a
call whose request deserializer raises with INTERNAL "Exception deserializing
request!", while a body that is not a valid request should get INVALID_ARGUMENT.
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
)
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
)

from otel_cost.errors import ConfigError
from otel_cost.serve.otlp_decode import (
    MAX_REQUEST_BYTES,
    InvalidRequestError,
    parse_protobuf,
)
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

    def parse(
        self, request_type: Any, body: bytes, context: grpc.ServicerContext
    ) -> Any:
        """Check the token, then parse ``body`` or abort with INVALID_ARGUMENT."""
        self.check_token(context)
        try:
            return parse_protobuf(request_type, body)
        except InvalidRequestError as exc:
            logger.debug("OTLP/gRPC request from %s rejected: %s", context.peer(), exc)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise AssertionError("grpc ServicerContext.abort returned") from exc

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
        """Store one export or abort with its gRPC status."""
        try:
            return export(request, "grpc")
        except (OverloadedError, UnavailableError) as exc:
            self.retryable(context, str(exc))
        except WriteRejectedError as exc:
            context.abort(grpc.StatusCode.INTERNAL, str(exc))
            raise AssertionError("grpc ServicerContext.abort returned") from exc


class TraceService:
    """Receives spans."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def Export(  # noqa: N802 - the generated method name
        self, body: bytes, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        """Store the spans of one export."""
        request_type = trace_service_pb2.ExportTraceServiceRequest
        request = self.guard.parse(request_type, body, context)
        outcome = self.guard.store(self.guard.receiver.export_traces, request, context)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if _partial(outcome):
            response.partial_success.rejected_spans = outcome.rejected
            response.partial_success.error_message = outcome.message
        return response


class LogsService:
    """Receives log records."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def Export(  # noqa: N802 - the generated method name
        self, body: bytes, context: grpc.ServicerContext
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        """Store the log records of one export."""
        request_type = logs_service_pb2.ExportLogsServiceRequest
        request = self.guard.parse(request_type, body, context)
        outcome = self.guard.store(self.guard.receiver.export_logs, request, context)
        response = logs_service_pb2.ExportLogsServiceResponse()
        if _partial(outcome):
            response.partial_success.rejected_log_records = outcome.rejected
            response.partial_success.error_message = outcome.message
        return response


class MetricsService:
    """Accepts metrics and drops them with a warning."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard

    def Export(  # noqa: N802 - the generated method name
        self, body: bytes, context: grpc.ServicerContext
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        """Count the data points of one export and reply with a warning."""
        request_type = metrics_service_pb2.ExportMetricsServiceRequest
        request = self.guard.parse(request_type, body, context)
        outcome = self.guard.receiver.export_metrics(request, "grpc")
        response = metrics_service_pb2.ExportMetricsServiceResponse()
        if _partial(outcome):
            response.partial_success.error_message = outcome.message
        return response


def _partial(outcome: ExportOutcome) -> bool:
    return bool(outcome.rejected or outcome.message)


def _add_service(
    server: grpc.Server, module: Any, name: str, export: Callable[..., Any]
) -> None:
    """Register ``export`` as ``name``'s Export method, taking the raw request bytes."""
    method = module.DESCRIPTOR.services_by_name[name].methods_by_name["Export"]
    response_type = getattr(module, method.output_type.name)
    handler = grpc.unary_unary_rpc_method_handler(
        export,
        request_deserializer=None,
        response_serializer=response_type.SerializeToString,
    )
    service = grpc.method_handlers_generic_handler(
        method.containing_service.full_name, {"Export": handler}
    )
    server.add_generic_rpc_handlers((service,))


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
    _add_service(server, trace_service_pb2, "TraceService", TraceService(guard).Export)
    _add_service(server, logs_service_pb2, "LogsService", LogsService(guard).Export)
    _add_service(
        server, metrics_service_pb2, "MetricsService", MetricsService(guard).Export
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
