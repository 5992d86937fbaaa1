"""Reading typed values out of loosely structured agent records.

Agents change their formats without notice, so every value is checked before
use. A helper either returns the value in the expected type, returns a default
for a missing value, or raises `RecordError` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from otel_cost.errors import OtelCostError, UsageFormatError
from otel_cost.events import TokenCategory, Usage
from otel_cost.normalise.usage import MAX_TOKENS_PER_CATEGORY

# Epoch values above this are milliseconds: 1e11 seconds is the year 5138.
EPOCH_MS_THRESHOLD = 100_000_000_000


class RecordError(OtelCostError, ValueError):
    """A record in an agent's history has a field of the wrong type or range."""


#: Errors that make one record unusable; an importer counts it and goes on.
RECORD_ERRORS = (RecordError, UsageFormatError, orjson.JSONDecodeError)


def read_json_object(path: Path) -> Mapping[str, Any]:
    """Read the JSON object in ``path``, or return ``{}`` when there is none.

    A missing or unreadable file, invalid JSON and a value that is not an
    object all return ``{}``, because callers use such files only as hints.
    """
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, Mapping) else {}


def as_mapping(value: Any, name: str) -> Mapping[str, Any]:
    """Return ``value`` as a JSON object, or raise naming the field."""
    if not isinstance(value, Mapping):
        raise RecordError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def text(value: Any) -> str:
    """Return ``value`` stripped when it is a string, else an empty string."""
    return value.strip() if isinstance(value, str) else ""


def tokens(record: Mapping[str, Any], key: str, name: str = "") -> int:
    """Return a non-negative token count from ``record[key]``, zero when absent."""
    value = record.get(key)
    label = name or key
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{label} must be a number of tokens, got {value!r}")
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise RecordError(f"{label} must be a whole non-negative number, got {value!r}")
    if value > MAX_TOKENS_PER_CATEGORY:
        raise RecordError(
            f"{label} is {value}, above the maximum of {MAX_TOKENS_PER_CATEGORY}"
        )
    return int(value)


def cost_usd(value: Any, name: str) -> Decimal | None:
    """Return an agent-reported USD cost as Decimal, None when absent.

    JSON numbers arrive as floats; ``str`` keeps the digits the agent wrote
    instead of the float's binary expansion.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordError(f"{name} must be a number of US dollars, got {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise RecordError(
            f"{name} must be a number of US dollars, got {value!r}"
        ) from None
    if not amount.is_finite() or amount < 0:
        raise RecordError(f"{name} must be a non-negative amount, got {value!r}")
    return amount


def epoch_time(value: Any, name: str) -> datetime:
    """Return a UTC time from epoch seconds or milliseconds (distinguished by magnitude)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{name} must be an epoch time, got {value!r}")
    seconds = value / 1000 if value > EPOCH_MS_THRESHOLD else value
    if not math.isfinite(seconds) or seconds <= 0:
        raise RecordError(f"{name} must be a positive epoch time, got {value!r}")
    return datetime.fromtimestamp(seconds, UTC)


def iso_time(value: Any, name: str) -> datetime:
    """Return a UTC time from an ISO 8601 string or SQLite ``YYYY-MM-DD HH:MM:SS``.

    A time without a zone is UTC, which is what SQLite's ``CURRENT_TIMESTAMP``
    writes.
    """
    if not isinstance(value, str) or not value:
        raise RecordError(f"{name} must be an ISO 8601 time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{name} must be an ISO 8601 time, got {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def any_time(value: Any, name: str) -> datetime:
    """Return a UTC time from an epoch number or an ISO 8601 string."""
    if isinstance(value, str):
        return iso_time(value, name)
    return epoch_time(value, name)


@lru_cache(maxsize=4096)
def project_name(directory: str) -> str:
    """Return the last component of a working directory, the project's name."""
    return Path(directory).name if directory else ""


def canonical_usage(counts: Mapping[TokenCategory, int]) -> Usage:
    """Return the usage of counts already checked by `tokens`, zeros dropped."""
    return Usage(
        tokens={category: count for category, count in counts.items() if count}
    )
