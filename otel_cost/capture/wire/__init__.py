"""LLM API wire formats: which requests cost money and how to read their usage.

Shared by the instrument proxy and the SDK's httpx instrumentation, so both
read usage the same way from JSON bodies and from server-sent event streams.
"""

from otel_cost.capture.wire.endpoints import (
    Endpoint,
    Provider,
    RequestSummary,
    WireFormat,
    match_endpoint,
    summarise_request,
)
from otel_cost.capture.wire.meter import Reading, ResponseMeter

__all__ = [
    "Endpoint",
    "Provider",
    "Reading",
    "RequestSummary",
    "ResponseMeter",
    "WireFormat",
    "match_endpoint",
    "summarise_request",
]
