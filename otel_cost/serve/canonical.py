"""Canonical cost events posted as JSON by the instrument proxy and the hook shims.

The body is ``{"events": [...]}``. Each event names its own id, time and
harness; usage is given in our canonical categories, or in a provider's own
shape with ``usage_format``. Cost is always computed here; a cost the source
computed goes in ``reported_cost_usd``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from otel_cost.errors import OtelCostError
from otel_cost.events import CostEvent
from otel_cost.normalise.usage import CONVERTERS, convert
from otel_cost.serve.attribution import usd

MAX_EVENTS = 10_000
MAX_TEXT_CHARS = 1024
SOURCES = ("proxy", "hook", "sdk", "otlp", "import", "api")
REQUIRED = ("event_id", "ts", "harness")
TEXT_FIELDS = (
    "event_id",
    "harness",
    "session_id",
    "provider",
    "model_requested",
    "model",
    "project",
    "task_type",
    "user",
    "team",
    "cost_center",
    "git_repo",
    "git_branch",
    "trace_id",
    "span_id",
    "parent_session_id",
    "operation",
    "tool_name",
    "outcome",
    "error_type",
    "service_tier",
)
KNOWN_FIELDS = frozenset(
    (
        *TEXT_FIELDS,
        "ts",
        "source",
        "latency_ms",
        "usage",
        "usage_format",
        "reported_cost_usd",
        "attributes",
    )
)


class InvalidEventError(OtelCostError):
    """A posted event is missing a field or contains an invalid value."""


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
    if not isinstance(raw, Mapping):
        raise InvalidEventError(
            f"an event must be a JSON object, got {type(raw).__name__}"
        )
    unknown = sorted(set(raw) - KNOWN_FIELDS)
    if unknown:
        raise InvalidEventError(f"unknown field {unknown[0]!r}")
    for name in REQUIRED:
        if not raw.get(name):
            raise InvalidEventError(f"{name} is required")
    texts: dict[str, Any] = {
        name: _text(raw, name) for name in TEXT_FIELDS if name in raw
    }
    event = CostEvent(ts=_time(raw["ts"]), source=_source(raw.get("source")), **texts)
    event.latency_ms = _latency(raw.get("latency_ms"))
    usage_format = raw.get("usage_format", "canonical")
    if usage_format not in CONVERTERS:
        raise InvalidEventError(
            f"usage_format {usage_format!r} is unknown; expected one of {', '.join(CONVERTERS)}"
        )
    usage = raw.get("usage") or {}
    if not isinstance(usage, Mapping):
        raise InvalidEventError(f"usage must be an object, got {type(usage).__name__}")
    event.usage = convert(usage_format, usage)
    if raw.get("reported_cost_usd") is not None:
        event.reported_cost_usd = usd(raw["reported_cost_usd"], "reported_cost_usd")
    event.attributes = _attributes(raw.get("attributes"))
    return event


def _text(raw: Mapping[str, Any], name: str) -> str:
    value = raw[name]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidEventError(f"{name} must be a string, got {value!r:.60}")
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidEventError(
            f"{name} is {len(value)} characters, over {MAX_TEXT_CHARS}"
        )
    return value


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidEventError(f"ts must be an ISO 8601 string, got {value!r:.60}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEventError(
            f"ts {value!r:.60} is not an ISO 8601 time such as 2026-08-20T14:03:11Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _source(value: Any) -> str:
    if value is None:
        return "api"
    if value not in SOURCES:
        raise InvalidEventError(
            f"source {value!r:.60} is unknown; expected one of {', '.join(SOURCES)}"
        )
    return str(value)


def _latency(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise InvalidEventError(
            f"latency_ms must be an integer from 0 to 2^32-1, got {value!r:.60}"
        )
    return value


def _attributes(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise InvalidEventError("attributes must be an object of string values")
    return {key: item[:MAX_TEXT_CHARS] for key, item in value.items()}
