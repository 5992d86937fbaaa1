"""Turning one proxied exchange into one priced cost event."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from otel_cost.capture.context import CaptureContext
from otel_cost.capture.proxy.summary import SessionTally
from otel_cost.capture.sink import Emitter
from otel_cost.capture.wire import Endpoint, Provider, Reading, RequestSummary
from otel_cost.events import CostEvent, CostStatus, Usage
from otel_cost.pricing.engine import UnknownServiceTierError, service_tier_suffix
from otel_cost.pricing.registry import PricingRegistry

logger = logging.getLogger(__name__)

#: Transport failures after which the response was cut off, not refused.
CUT_OFF_ERRORS = ("stream_interrupted", "client_disconnected")
CLAUDE_CODE = "claude-code"


@dataclass
class Exchange:
    """The facts of one billable request that the proxy observed, except usage."""

    endpoint: Endpoint
    request: RequestSummary
    started_at: datetime
    upstream_host: str
    status: int = 0
    latency_ms: int = 0
    time_to_first_byte_ms: int | None = None
    #: The provider's request id from the response headers.
    request_id: str = ""
    #: ``upstream_unreachable``, ``upstream_timeout``, one of `CUT_OFF_ERRORS`, or "".
    transport_error: str = ""
    #: The budget gate's verdict (allow, warn, deny), or "" without a gate.
    gate_verdict: str = ""


class Recorder:
    """Builds, prices, tallies and emits one event per exchange."""

    def __init__(
        self,
        context: CaptureContext,
        registry: PricingRegistry,
        emitter: Emitter | None,
    ) -> None:
        self.context = context
        self.registry = registry
        self.emitter = emitter
        self.tally = SessionTally()
        self._lock = threading.Lock()

    def record(self, exchange: Exchange, reading: Reading) -> CostEvent:
        """Build, price, tally and queue the event of one exchange."""
        event = build_event(self.context, exchange, reading)
        price(self.registry, event, reading)
        with self._lock:
            self.tally.add(event)
        if self.emitter is not None:
            self.emitter.submit(event)
        return event


def build_event(
    context: CaptureContext, exchange: Exchange, reading: Reading
) -> CostEvent:
    """Return the unpriced event of one exchange."""
    outcome, error_type = classify(exchange, reading)
    return CostEvent(
        event_id=event_id(
            context,
            exchange.endpoint.provider,
            reading.response_id,
            exchange.request_id,
        ),
        ts=exchange.started_at,
        harness=context.harness,
        source="proxy",
        session_id=context.session_id,
        provider=exchange.endpoint.provider.value,
        model_requested=exchange.request.model,
        model=reading.model or exchange.request.model,
        project=context.project,
        task_type=context.task_type,
        user=context.user,
        git_repo=context.git_repo,
        git_branch=context.git_branch,
        operation="chat",
        outcome=outcome,
        error_type=error_type,
        latency_ms=exchange.latency_ms,
        service_tier=_known_tier(reading.service_tier),
        usage=reading.usage or Usage(),
        attributes=_attributes(context, exchange, reading),
    )


def classify(exchange: Exchange, reading: Reading) -> tuple[str, str]:
    """Return the outcome (ok, error, interrupted, denied) and error type."""
    if exchange.gate_verdict == "deny":
        return "denied", "budget_denied"
    if exchange.transport_error and exchange.transport_error not in CUT_OFF_ERRORS:
        return "error", exchange.transport_error
    if exchange.status >= 400:
        return "error", reading.error_type or str(exchange.status)
    if reading.error_type:
        # An error event inside a 200 stream (Anthropic ``overloaded_error``).
        return "error", reading.error_type
    if exchange.transport_error:
        return "interrupted", exchange.transport_error
    if exchange.request.stream and not reading.complete:
        return "interrupted", "stream_incomplete"
    return "ok", ""


def event_id(
    context: CaptureContext, provider: Provider, response_id: str, request_id: str = ""
) -> str:
    """Return the event id: stable per response, so no source counts a call twice.

    For Claude Code's Anthropic calls the id matches another source of the
    same call. With Claude Code's own telemetry on, the service keys its
    ``claude_code.api_request`` log events ``claude-code:req:<request-id>``;
    otherwise the transcript importer keys them ``claude-code:<message id>``.
    """
    if context.harness == CLAUDE_CODE and provider is Provider.ANTHROPIC:
        if context.native_telemetry and request_id:
            return f"{CLAUDE_CODE}:req:{request_id}"
        if response_id:
            return f"{CLAUDE_CODE}:{response_id}"
    if not response_id:
        return f"proxy:{uuid.uuid4().hex}"
    return f"proxy:{provider.value}:{response_id}"


def price(registry: PricingRegistry, event: CostEvent, reading: Reading) -> None:
    """Price an event: a cut-off stream is an estimate, a refused request is free."""
    if reading.usage is None and event.outcome in ("error", "denied"):
        # Providers do not bill a request they refused or failed, or never saw.
        event.pricing_version = registry.card_at(event.ts).version
        event.cost_usd = Decimal(0)
        event.cost_status = CostStatus.PRICED
        return
    if reading.usage is None:
        # Success without readable usage: tokens unknown, so the cost is too.
        event.pricing_version = registry.card_at(event.ts).version
        return
    if event.outcome == "interrupted":
        event.cost_status = CostStatus.ESTIMATED
    try:
        registry.price_event(event)
    except Exception as exc:  # an event is stored unpriced rather than lost
        logger.warning("cannot price model %s: %s", event.model, exc)


def _known_tier(tier: str) -> str:
    try:
        service_tier_suffix(tier)
    except UnknownServiceTierError:
        return ""
    return tier.lower()


def _attributes(
    context: CaptureContext, exchange: Exchange, reading: Reading
) -> dict[str, str]:
    attributes = dict(context.tags)
    attributes.update(
        {
            "wire_format": exchange.endpoint.wire_format.value,
            "server.address": exchange.upstream_host,
            "http.status_code": str(exchange.status),
            "stream": "true" if exchange.request.stream else "false",
        }
    )
    optional = {
        "request_id": exchange.request_id,
        "response_id": reading.response_id,
        "finish_reasons": ",".join(reading.finish_reasons),
        "usage_problem": reading.problem,
    }
    attributes.update({key: value for key, value in optional.items() if value})
    if exchange.gate_verdict:
        attributes["budget_verdict"] = exchange.gate_verdict
    if exchange.time_to_first_byte_ms is not None:
        attributes["time_to_first_byte_ms"] = str(exchange.time_to_first_byte_ms)
    if reading.usage is None and exchange.status < 400 and not reading.problem:
        attributes["usage_problem"] = "response carried no usage"
    return attributes
