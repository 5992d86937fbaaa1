"""The otel-cost SDK: GenAI spans with cost for LLM calls made through httpx.

Call `configure` once at start-up. From then on every request that httpx
sends to an Anthropic Messages, OpenAI Chat Completions or Responses, or
Gemini ``generateContent`` endpoint becomes a ``chat {model}`` (or
``generate_content {model}``) span with ``gen_ai.*`` usage and cost
attributes, ended when the response body ends. `record_usage` records a call
made by any other client. Nothing here raises into the application: errors
are swallowed and counted in `stats`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_cost.normalise.usage import convert
from otel_cost.sdk import attributes, transport
from otel_cost.sdk.state import STATE, SdkStats

logger = logging.getLogger(__name__)

__all__ = ["SdkStats", "configure", "record_usage", "shutdown", "stats"]


def configure(
    service_name: str | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    instrument_httpx: bool = True,
    pricing_files: Iterable[str] = (),
) -> bool:
    """Set up span export and httpx instrumentation; later calls change nothing.

    Without ``tracer_provider`` the SDK builds one from the ``OTEL_*``
    variables and installs it as the global provider, unless the application
    already installed its own. Returns whether this call did the set-up.
    """
    with STATE.lock:
        if STATE.configured:
            return False
        try:
            STATE.pricing_files = tuple(pricing_files)
            STATE.tracer_provider = tracer_provider or _global_or_new(service_name)
            STATE.registry()
            if instrument_httpx:
                transport.instrument()
        except Exception as exc:
            STATE.count_error("configure failed", exc)
            logger.warning("otel-cost SDK not configured: %s", exc)
            return False
        STATE.configured = True
        return True


def _global_or_new(service_name: str | None) -> trace.TracerProvider:
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        return current
    from otel_cost.sdk.setup import build_tracer_provider

    provider = build_tracer_provider(service_name)
    trace.set_tracer_provider(provider)
    STATE.owns_provider = True
    return provider


def record_usage(
    model: str,
    usage: Mapping[str, Any],
    *,
    provider: str = "",
    usage_format: str = "canonical",
    response_model: str = "",
    duration_ms: float | None = None,
    service_tier: str = "",
    error_type: str = "",
    extra_attributes: Mapping[str, Any] | None = None,
) -> Decimal | None:
    """Record one LLM call made outside httpx as a span; return its cost in USD.

    ``usage`` follows ``usage_format``: ``canonical`` (``input``,
    ``cache_read``, ``output``, ...), ``anthropic``, ``openai``, ``gemini`` or
    ``semconv``. Returns None when the call cannot be priced or recording fails.
    """
    try:
        return _record(model, usage, provider, usage_format, response_model,
                       duration_ms, service_tier, error_type, extra_attributes)  # fmt: skip
    except Exception as exc:
        STATE.count_error("record_usage failed", exc)
        return None


def _record(
    model: str,
    usage_object: Mapping[str, Any],
    provider: str,
    usage_format: str,
    response_model: str,
    duration_ms: float | None,
    service_tier: str,
    error_type: str,
    extra_attributes: Mapping[str, Any] | None,
) -> Decimal | None:
    usage = convert(usage_format, usage_object)
    end_ns = time.time_ns()
    start_ns = end_ns - int((duration_ms or 0) * 1_000_000)
    span = STATE.tracer().start_span(
        attributes.span_name(provider, model),
        kind=SpanKind.CLIENT,
        attributes=attributes.request_attributes(provider, model, False),
        start_time=start_ns,
    )
    priced_model = response_model or model
    if response_model:
        span.set_attribute("gen_ai.response.model", response_model)
    span.set_attributes(attributes.usage_attributes(usage))
    cost_attributes, cost = attributes.cost_attributes(
        STATE.registry(), priced_model, usage, datetime.now(UTC), service_tier
    )
    span.set_attributes(cost_attributes)
    if extra_attributes:
        span.set_attributes(dict(extra_attributes))
    if error_type:
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR))
    span.end(end_time=end_ns)
    STATE.stats.spans += 1
    STATE.stats.unpriced += cost is None
    return cost


def stats() -> SdkStats:
    """Return the SDK's self-metrics: spans made, unpriced calls, swallowed errors."""
    return STATE.stats


def shutdown() -> None:
    """Restore httpx and flush pending spans; stop the provider if the SDK built it."""
    transport.uninstrument()
    provider = STATE.tracer_provider
    flush = getattr(provider, "force_flush", None)
    stop = getattr(provider, "shutdown", None)
    try:
        if callable(flush):
            flush()
        if STATE.owns_provider and callable(stop):
            stop()
    except Exception as exc:
        STATE.count_error("shutdown failed", exc)
    with STATE.lock:
        STATE.configured = False
        STATE.owns_provider = False
        STATE.tracer_provider = None
