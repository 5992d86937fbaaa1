"""Decoding OTLP request bodies: gzip, protobuf and OTLP/JSON.

OTLP/JSON differs from the protobuf JSON mapping in that trace and span ids
are hex strings instead of base64, so ids are converted before the standard
parser reads the document. Enums arrive as integers, 64-bit integers may be
decimal strings and unknown fields are ignored, all of which the protobuf
parser accepts as is.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from otel_cost.errors import OtelCostError

#: The maximum request size after decompression that the OTLP specification
#: recommends servers enforce.
MAX_REQUEST_BYTES = 64 * 2**20

ID_KEYS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)

RequestT = TypeVar(
    "RequestT",
    ExportTraceServiceRequest,
    ExportLogsServiceRequest,
    ExportMetricsServiceRequest,
)


class InvalidRequestError(OtelCostError):
    """An OTLP request body cannot be decoded (HTTP 400, gRPC INVALID_ARGUMENT)."""


class RequestTooLargeError(OtelCostError):
    """An OTLP request body is over the size limit (HTTP 413)."""


def decompress(body: bytes, encoding: str, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """Undo ``Content-Encoding`` (identity, gzip or deflate) within ``limit`` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise InvalidRequestError(
            f"unsupported Content-Encoding {encoding!r}; expected gzip, deflate or identity"
        )
    # A gzip body may hold several members one after another, as gzip files
    # concatenated with cat do; each is inflated in turn.
    parts: list[bytes] = []
    size = 0
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            part = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise InvalidRequestError(f"invalid {encoding} body: {exc}") from None
        parts.append(part)
        size += len(part)
        if size > limit:
            raise RequestTooLargeError(
                f"request body is over {limit} bytes after decompression"
            )
        if not inflater.eof:
            raise InvalidRequestError(
                f"invalid {encoding} body: it ends before the compressed data does"
            )
        rest = inflater.unused_data
        if not rest or encoding == "deflate":
            return b"".join(parts)


def parse_protobuf(message_type: type[RequestT], body: bytes) -> RequestT:
    """Parse a binary OTLP request."""
    try:
        message: RequestT = message_type.FromString(body)
    except DecodeError as exc:
        raise InvalidRequestError(f"invalid protobuf body: {exc}") from None
    return message


def parse_json(message_type: type[RequestT], body: bytes) -> RequestT:
    """Parse an OTLP/JSON request with hex trace and span ids."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"invalid JSON body: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidRequestError(
            f"the JSON body must be an object, got {type(document).__name__}"
        )
    message = message_type()
    try:
        json_format.ParseDict(
            _hex_ids_to_base64(document), message, ignore_unknown_fields=True
        )
    except json_format.ParseError as exc:
        raise InvalidRequestError(f"invalid OTLP/JSON body: {exc}") from None
    return message


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _id_value(key, value) if key in ID_KEYS else _hex_ids_to_base64(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _id_value(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidRequestError(
            f"{key} must be a hex string, got {value[:64]!r}"
        ) from None
    return base64.b64encode(raw).decode()


def message_to_json(message: Message) -> bytes:
    """Serialise a response message as OTLP/JSON (lowerCamelCase keys)."""
    return orjson.dumps(json_format.MessageToDict(message))


def hex_id(raw: bytes) -> str:
    """Return a trace or span id as lowercase hex ('' when empty)."""
    return binascii.hexlify(raw).decode()
