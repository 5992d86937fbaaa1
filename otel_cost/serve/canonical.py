"""Canonical cost events posted as JSON by the instrument proxy and the hook shims.

The body is ``{"events": [...]}``, each event in the versioned cost-event JSON
Schema that `otel_cost.events_json` checks (``otel_cost/schema``). Cost is
always computed here; a cost the source computed travels in
``reported_cost_usd`` and is kept beside ours.
"""

from __future__ import annotations

from typing import Any

from otel_cost.events import CostEvent
from otel_cost.events_json import InvalidEventError, event_from_json

MAX_EVENTS = 10_000

__all__ = ["MAX_EVENTS", "InvalidEventError", "parse_body", "parse_event"]


def parse_body(document: Any) -> list[Any]:
    """Return the list of raw events of a request body."""
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise InvalidEventError('the body must be a JSON object {"events": [...]}')
    events: list[Any] = document["events"]
    if len(events) > MAX_EVENTS:
        raise InvalidEventError(
            f"{len(events)} events in one request; the limit is {MAX_EVENTS}"
        )
    return events


def parse_event(raw: Any) -> CostEvent:
    """Return the cost event of one posted JSON object, or raise naming the field."""
    return event_from_json(raw)
