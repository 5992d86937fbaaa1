"""OTLP/HTTP: ``POST /v1/traces``, ``/v1/logs`` and ``/v1/metrics``.

Bodies are protobuf or JSON, optionally gzip-compressed. Metrics are accepted
and dropped with a warning, because cost is read from spans and log events.

Replies follow the OTLP specification. A request with unusable items gets 200
with ``partial_success``. An undecodable body gets 400, a body over the size
limit 413 and another content type 415. A method other than POST gets 405
with ``Allow: POST``. A full queue gets the retryable 429, and an
unavailable store and spool the retryable 503, both with ``Retry-After``.
Error bodies are a ``google.rpc.Status`` in the request's encoding, or in
JSON when the request has none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message  # type: ignore[import-untyped]
from google.rpc import status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_cost.serve.http_common import BodyError, Handler
from otel_cost.serve.otlp_decode import (
    MAX_REQUEST_BYTES,
    InvalidRequestError,
    RequestTooLargeError,
    decompress,
    message_to_json,
    parse_json,
    parse_protobuf,
)
from otel_cost.serve.pipeline import (
    OverloadedError,
    UnavailableError,
    WriteRejectedError,
)
from otel_cost.serve.receiver import ExportOutcome, Receiver

logger = logging.getLogger(__name__)

Export = Callable[[Receiver, Any], ExportOutcome]
# Path: request type, response type, the partial_success count field, export.
SIGNALS: dict[str, tuple[Any, Any, str, Export]] = {
    "/v1/traces": (
        ExportTraceServiceRequest, ExportTraceServiceResponse, "rejected_spans",
        lambda receiver, request: receiver.export_traces(request, "http"),
    ),
    "/v1/logs": (
        ExportLogsServiceRequest, ExportLogsServiceResponse, "rejected_log_records",
        lambda receiver, request: receiver.export_logs(request, "http"),
    ),
    "/v1/metrics": (
        ExportMetricsServiceRequest, ExportMetricsServiceResponse, "rejected_data_points",
        lambda receiver, request: receiver.export_metrics(request, "http"),
    ),
}  # fmt: skip

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
RETRY_AFTER_SECONDS = "5"
# gRPC status codes used in google.rpc.Status bodies.
INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL = 3, 8, 12, 13
UNAVAILABLE, UNAUTHENTICATED = 14, 16


class OtlpHttpHandler(Handler):
    """Handles OTLP/HTTP exports."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server method name
        """Decode one export, store its events and reply."""
        path = self.path.split("?", 1)[0]
        if path not in SIGNALS:
            self.send_json(
                404,
                {"error": f"no OTLP endpoint at {path!r}; use {', '.join(SIGNALS)}"},
            )
            return
        content_type = (
            self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        )
        if content_type not in (PROTOBUF, JSON):
            self.close_connection = True
            # The body's own encoding is unknown, so the Status goes as JSON.
            self._status(
                415,
                JSON,
                INVALID_ARGUMENT,
                f"unsupported Content-Type {content_type!r}; "
                f"expected {PROTOBUF} or {JSON}",
            )
            return
        if not self.state.authorized_headers(self.headers.get("Authorization")):
            self._status(
                401, content_type, UNAUTHENTICATED, "a valid bearer token is required"
            )
            return
        try:
            self._export(path, content_type)
        except BodyError as exc:
            self.close_connection = True
            code = RESOURCE_EXHAUSTED if exc.status == 429 else INVALID_ARGUMENT
            headers = (
                {"Retry-After": RETRY_AFTER_SECONDS} if exc.status == 429 else None
            )
            self._status(exc.status, content_type, code, str(exc), headers)

    def allowed_methods(self, path: str) -> str | None:
        """Return ``POST`` for the signal paths, None for any other path."""
        return "POST" if path in SIGNALS else None

    def send_method_not_allowed(self, message: str, allowed: str) -> None:
        """Send the 405 reply as a JSON ``google.rpc.Status``, as other errors."""
        self._status(405, JSON, UNIMPLEMENTED, message, {"Allow": allowed})

    def _export(self, path: str, content_type: str) -> None:
        length = self.body_length(MAX_REQUEST_BYTES)
        with self.state.body_budget.reserve(length):
            self._decode_and_store(path, content_type, self.read_body(length))

    def _decode_and_store(self, path: str, content_type: str, body: bytes) -> None:
        request_type, response_type, count_field, export = SIGNALS[path]
        try:
            raw = decompress(body, self.headers.get("Content-Encoding", ""))
            parse = parse_json if content_type == JSON else parse_protobuf
            request = parse(request_type, raw)
        except RequestTooLargeError as exc:
            self.close_connection = True
            self._status(413, content_type, INVALID_ARGUMENT, str(exc))
            return
        except InvalidRequestError as exc:
            self._status(400, content_type, INVALID_ARGUMENT, str(exc))
            return
        try:
            outcome = export(self.state.receiver, request)
        except OverloadedError as exc:
            self._status(
                429,
                content_type,
                RESOURCE_EXHAUSTED,
                str(exc),
                {"Retry-After": RETRY_AFTER_SECONDS},
            )
            return
        except UnavailableError as exc:
            self._status(
                503,
                content_type,
                UNAVAILABLE,
                str(exc),
                {"Retry-After": RETRY_AFTER_SECONDS},
            )
            return
        except WriteRejectedError as exc:
            # Not retryable: the same data would be rejected again.
            self._status(500, content_type, INTERNAL, str(exc))
            return
        response = response_type()
        # Full success leaves partial_success unset, as the specification requires.
        if outcome.rejected or outcome.message:
            setattr(response.partial_success, count_field, outcome.rejected)
            response.partial_success.error_message = outcome.message
        self._reply(content_type, response)

    def _reply(self, content_type: str, message: Message) -> None:
        if content_type == JSON:
            self.send_bytes(200, message_to_json(message), JSON)
        else:
            self.send_bytes(200, message.SerializeToString(), PROTOBUF)

    def _status(
        self,
        http_status: int,
        content_type: str,
        code: int,
        text: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        path = self.path.split("?", 1)[0]
        if self.state.self_metrics.record_failed_request(path, http_status):
            logger.warning(
                "OTLP/HTTP %s from %s failed with %d: %s (repeats are counted in "
                "otel_cost_serve_failed_requests_total)",
                path,
                self.client_address[0],
                http_status,
                text,
            )
        status = status_pb2.Status(code=code, message=text)
        if content_type == JSON:
            self.send_bytes(http_status, message_to_json(status), JSON, headers)
        else:
            self.send_bytes(http_status, status.SerializeToString(), PROTOBUF, headers)
