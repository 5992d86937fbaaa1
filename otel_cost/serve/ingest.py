"""Converting whole OTLP requests into priced cost events, counting what was rejected."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from otel_cost.errors import OtelCostError
from otel_cost.events import CostEvent, CostStatus, FeeCategory
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.serve.attributes import to_dict
from otel_cost.serve.attribution import ResourceInfo
from otel_cost.serve.logs import log_to_event
from otel_cost.serve.spans import AGGREGATE_OPERATIONS, TOOL_OPERATIONS, span_to_event

logger = logging.getLogger(__name__)

#: How many rejection reasons one response lists; the count covers them all.
MAX_LISTED_ERRORS = 5
NOT_BILLED_OPERATIONS = (*TOOL_OPERATIONS, *AGGREGATE_OPERATIONS, "interaction")

ItemT = TypeVar("ItemT")


@dataclass
class Conversion:
    """The events of one request, and what was ignored or rejected."""

    events: list[CostEvent] = field(default_factory=list)
    received: int = 0
    ignored: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, message: str) -> None:
        """Count one unusable item and keep the first few reasons."""
        self.rejected += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(message)

    def error_message(self, noun: str) -> str:
        """Return the English ``partial_success`` message ('' when nothing failed)."""
        if not self.rejected:
            return ""
        listed = "; ".join(self.errors)
        more = self.rejected - len(self.errors)
        suffix = f"; and {more} more" if more > 0 else ""
        return f"rejected {self.rejected} of {self.received} {noun}: {listed}{suffix}"


def convert_traces(
    request: ExportTraceServiceRequest, registry: PricingRegistry
) -> Conversion:
    """Return the priced events of every cost-relevant span in ``request``."""
    items = (
        (span, resource, scope_name)
        for resource_spans in request.resource_spans
        for resource in [_resource(resource_spans.resource)]
        for scope_spans in resource_spans.scope_spans
        # Read once per scope: each read of a protobuf field builds a new object.
        for scope_name in [scope_spans.scope.name]
        for span in scope_spans.spans
    )
    return _convert(items, span_to_event, registry)


def convert_logs(
    request: ExportLogsServiceRequest, registry: PricingRegistry
) -> Conversion:
    """Return the priced events of every cost-relevant log record in ``request``."""
    items = (
        (record, resource, scope_name)
        for resource_logs in request.resource_logs
        for resource in [_resource(resource_logs.resource)]
        for scope_logs in resource_logs.scope_logs
        for scope_name in [scope_logs.scope.name]
        for record in scope_logs.log_records
    )
    return _convert(items, log_to_event, registry)


def _resource(resource: Resource) -> ResourceInfo:
    return ResourceInfo.from_attributes(to_dict(resource.attributes))


def _convert(
    items: Iterable[tuple[ItemT, ResourceInfo, str]],
    to_event: Callable[[ItemT, ResourceInfo, str], CostEvent | None],
    registry: PricingRegistry,
) -> Conversion:
    result = Conversion()
    for item, resource, scope_name in items:
        result.received += 1
        try:
            event = to_event(item, resource, scope_name)
        except OtelCostError as exc:
            result.reject(str(exc))
            continue
        if event is None:
            result.ignored += 1
            continue
        result.events.append(price(event, registry))
    return result


def price(event: CostEvent, registry: PricingRegistry) -> CostEvent:
    """Price one event with the rate card in force at its own time."""
    billable = event.usage.total_tokens or event.usage.fees.get(FeeCategory.WEB_SEARCH)
    if billable:
        return registry.price_event(event)
    event.pricing_version = registry.card_at(event.ts).version
    event.cost_lines = []
    if event.operation in NOT_BILLED_OPERATIONS or event.outcome == "error":
        # Tool runs, agent wrappers and failed requests bill no tokens.
        event.cost_usd = Decimal(0)
        event.cost_status = CostStatus.PRICED
    else:
        # A model call that reported no usage has an unknown cost, not $0.
        event.cost_usd = None
        event.cost_status = CostStatus.UNPRICED
        event.attributes["otel_cost.unpriced_reason"] = "no usage reported"
    return event
