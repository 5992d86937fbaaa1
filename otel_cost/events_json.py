"""The JSON form of a cost event, checked against the packaged JSON Schema.

This is the wire format of ``POST /api/v1/events`` and of every component
that hands events to another as JSON. Money travels as decimal strings.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import jsonschema

from otel_cost.errors import OtelCostError
from otel_cost.events import (
    CostEvent,
    CostStatus,
    FeeCategory,
    TokenCategory,
    Usage,
    time_out_of_range,
)
from otel_cost.normalise.usage import count

SCHEMA_VERSION = 1
STRING_FIELDS = (
    "session_id", "parent_session_id", "provider", "model_requested", "model",
    "project", "task_type", "user", "team", "cost_center", "git_repo",
    "git_branch", "trace_id", "span_id", "operation", "tool_name", "outcome",
    "error_type", "service_tier",
)  # fmt: skip


class InvalidEventError(OtelCostError):
    """A JSON event does not follow the cost-event schema."""


@functools.cache
def event_schema() -> dict[str, Any]:
    """Return the packaged cost-event JSON Schema."""
    text = (resources.files("otel_cost") / "schema" / "cost-event.v1.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(event_schema())


def validate_event_json(payload: Any) -> None:
    """Raise `InvalidEventError` naming the first field that breaks the schema."""
    error = jsonschema.exceptions.best_match(_validator().iter_errors(payload))
    if error is None:
        return
    field = "/".join(str(part) for part in error.absolute_path) or "(event)"
    message = error.message
    if field == "reported_cost_usd":
        # The schema's oneOf error names neither the sign rule nor the form.
        message = (
            f"{error.instance!r} is not null or a decimal string of USD >= 0,"
            ' such as "0.0123"'
        )
    raise InvalidEventError(f"invalid cost event field {field!r}: {message}")


def event_from_json(payload: Any) -> CostEvent:
    """Validate a JSON event and build the `CostEvent` (not yet priced)."""
    validate_event_json(payload)
    try:
        ts = datetime.fromisoformat(payload["ts"].replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEventError(
            f"invalid cost event field 'ts': {payload['ts']!r} is not ISO 8601"
        ) from None
    if ts.tzinfo is None:
        raise InvalidEventError(
            f"invalid cost event field 'ts': {payload['ts']!r} has no zone"
        )
    problem = time_out_of_range(ts)
    if problem:
        raise InvalidEventError(f"invalid cost event field 'ts': {problem}")
    usage = payload.get("usage", {})
    reported = payload.get("reported_cost_usd")
    status = payload.get("cost_status")
    event = CostEvent(
        event_id=payload["event_id"],
        ts=ts,
        harness=payload["harness"],
        source=payload["source"],
        usage=_usage(usage),
        attributes=dict(payload.get("attributes", {})),
        reported_cost_usd=Decimal(reported) if reported is not None else None,
        latency_ms=int(payload.get("latency_ms", 0)),
    )
    for name in STRING_FIELDS:
        if name in payload:
            setattr(event, name, payload[name])
    if status == CostStatus.ESTIMATED.value:
        event.cost_status = CostStatus.ESTIMATED
    return event


def _usage(usage: dict[str, Any]) -> Usage:
    # The schema accepts integral floats such as 100.0, which count() makes ints.
    counts = {key: count(value, f"usage.{key}") for key, value in usage.items()}
    return Usage(
        tokens={TokenCategory(k): v for k, v in counts.items() if k in _TOKENS and v},
        fees={FeeCategory(k): v for k, v in counts.items() if k in _FEES and v},
    )


def event_to_json(event: CostEvent) -> dict[str, Any]:
    """Return the JSON form of an event, valid against the schema."""
    usage: dict[str, int] = {
        category.value: n for category, n in event.usage.tokens.items()
    }
    usage.update({fee.value: n for fee, n in event.usage.fees.items()})
    payload: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event.event_id,
        "ts": event.ts.isoformat(),
        "harness": event.harness,
        "source": event.source,
        "latency_ms": event.latency_ms,
        "usage": usage,
        "attributes": dict(event.attributes),
        "reported_cost_usd": (
            None
            if event.reported_cost_usd is None
            else format(event.reported_cost_usd, "f")
        ),
        "cost_status": event.cost_status.value,
    }
    for name in STRING_FIELDS:
        payload[name] = getattr(event, name)
    return payload


_TOKENS = {category.value for category in TokenCategory}
_FEES = {fee.value for fee in FeeCategory}
