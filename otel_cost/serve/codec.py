"""A lossless JSON form of priced cost events, for the spool."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from otel_cost.events import (
    CostEvent,
    CostLine,
    CostStatus,
    FeeCategory,
    TokenCategory,
    Usage,
)


def encode_events(events: list[CostEvent]) -> bytes:
    """Serialise events, Decimals as exact strings and times as ISO 8601."""
    return orjson.dumps([_event_dict(event) for event in events], default=_default)


def decode_events(payload: bytes) -> list[CostEvent]:
    """Rebuild the events that `encode_events` wrote."""
    return [_event(item) for item in orjson.loads(payload)]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _event_dict(event: CostEvent) -> dict[str, Any]:
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    data["ts"] = event.ts.isoformat()
    data["usage"] = {
        "tokens": {key.value: count for key, count in event.usage.tokens.items()},
        "fees": {key.value: count for key, count in event.usage.fees.items()},
    }
    data["cost_status"] = event.cost_status.value
    data["cost_lines"] = [line._asdict() for line in event.cost_lines]
    return data


def _event(data: dict[str, Any]) -> CostEvent:
    usage = data.pop("usage")
    lines = data.pop("cost_lines")
    event = CostEvent(**data)
    event.ts = datetime.fromisoformat(data["ts"])
    event.usage = Usage(
        tokens={TokenCategory(key): count for key, count in usage["tokens"].items()},
        fees={FeeCategory(key): count for key, count in usage["fees"].items()},
    )
    event.cost_status = CostStatus(data["cost_status"])
    event.cost_usd = _decimal(data["cost_usd"])
    event.reported_cost_usd = _decimal(data["reported_cost_usd"])
    event.cost_lines = [
        CostLine(
            line["category"],
            line["quantity"],
            Decimal(line["usd_per_unit"]),
            Decimal(line["cost_usd"]),
        )
        for line in lines
    ]
    return event


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
