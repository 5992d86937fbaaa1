"""One LLM call in flight: its span, its meter and how it ends."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import httpx
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_cost import config
from otel_cost.capture.wire import Endpoint, Reading, ResponseMeter, summarise_request
from otel_cost.sdk import attributes
from otel_cost.sdk.state import STATE


class LlmCall:
    """Tracks one request to a billable endpoint from send to the end of its body."""

    def __init__(self, endpoint: Endpoint, request: httpx.Request) -> None:
        self.endpoint = endpoint
        self.summary = summarise_request(endpoint, _request_body(request))
        self.started_ns = time.monotonic_ns()
        self.started_at = datetime.now(UTC)
        self.meter: ResponseMeter | None = None
        self.status_code = 0
        self._ended = False
        provider = endpoint.provider.value
        span_attributes = attributes.request_attributes(
            provider, self.summary.model, self.summary.stream
        )
        span_attributes["server.address"] = request.url.host
        if request.url.port:
            span_attributes["server.port"] = request.url.port
        if _through_proxy(request.url):
            # The instrument proxy records this call too; the marker lets the
            # service keep one of the two.
            span_attributes["otel_cost.capture"] = "proxy"
        self.span: Span = STATE.tracer().start_span(
            attributes.span_name(provider, self.summary.model),
            kind=SpanKind.CLIENT,
            attributes=span_attributes,
        )

    def on_response(self, response: httpx.Response) -> None:
        """Note the status and prepare to meter the body."""
        self.status_code = response.status_code
        self.span.set_attribute("http.response.status_code", response.status_code)
        self.meter = ResponseMeter(
            self.endpoint.wire_format,
            response.headers.get("content-type", ""),
            response.headers.get("content-encoding", ""),
        )

    def feed(self, data: bytes) -> None:
        """Meter one piece of the body."""
        if self.meter is not None:
            self.meter.feed(data)

    def end(self, failure: str = "", closed_early: bool = False) -> None:
        """Finish the span once: with usage and cost, or with the failure.

        ``closed_early`` means the application stopped reading: not an error,
        but the usage seen so far is only an estimate.
        """
        if self._ended:
            return
        self._ended = True
        try:
            reading = self.meter.finish() if self.meter is not None else Reading()
            self._annotate(reading, failure, closed_early)
        except Exception as exc:  # the span still ends
            STATE.count_error("cannot annotate an LLM span", exc)
        self.span.end()
        STATE.stats.spans += 1

    def _annotate(self, reading: Reading, failure: str, closed_early: bool) -> None:
        span = self.span
        if reading.model:
            span.set_attribute("gen_ai.response.model", reading.model)
        if reading.response_id:
            span.set_attribute("gen_ai.response.id", reading.response_id)
        if reading.finish_reasons:
            span.set_attribute("gen_ai.response.finish_reasons", reading.finish_reasons)
        if self.summary.stream and reading.first_byte_ns is not None:
            first_chunk_s = (reading.first_byte_ns - self.started_ns) / 1e9
            span.set_attribute("gen_ai.response.time_to_first_chunk", first_chunk_s)

        error_type = failure or reading.error_type
        if not error_type and self.status_code >= 400:
            error_type = str(self.status_code)
        if error_type:
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR))
        if reading.usage is None:
            return

        cut_off = bool(failure) or closed_early
        cut_off = cut_off or (self.summary.stream and not reading.complete)
        span.set_attributes(attributes.usage_attributes(reading.usage))
        model = reading.model or self.summary.model
        cost_attributes, cost = attributes.cost_attributes(
            STATE.registry(),
            model,
            reading.usage,
            self.started_at,
            reading.service_tier,
            estimated=cut_off,
        )
        span.set_attributes(cost_attributes)
        if cost is None:
            STATE.stats.unpriced += 1


def _request_body(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        # A streamed upload: the model stays unknown rather than the body consumed.
        return b""


def _through_proxy(url: httpx.URL) -> bool:
    proxy_url = os.environ.get(config.ENV_PROXY_URL)
    return bool(proxy_url) and str(url).startswith(str(proxy_url))
