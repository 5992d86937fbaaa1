"""Attribution shared by spans and log records: harness, owners and reported cost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from otel_cost.errors import OtelCostError
from otel_cost.events import EARLIEST_TS, LATEST_TS, CostEvent, time_out_of_range
from otel_cost.serve import attributes as keys
from otel_cost.serve.attributes import first_text, id_text, text

# ``service.name`` values of the agents whose telemetry we read, mapped to the
# harness names the importers use. Codex names its service after the entry
# point (codex_cli_rs, codex-cli, codex_exec, codex-app-server).
SERVICE_HARNESS_PREFIXES = (
    ("claude-code", "claude-code"),
    ("codex", "codex"),
    ("gemini-cli", "gemini"),
    ("gemini_cli", "gemini"),
)
DEFAULT_HARNESS = "otlp"

# Reported USD cost attributes written by other tools, most specific first:
# the draft semantic-convention name, OpenLIT, LiteLLM, other vendors.
REPORTED_COST_KEYS = (
    "gen_ai.usage.cost.amount",
    "gen_ai.usage.cost",
    "gen_ai.cost.total_cost",
    "gen_ai.usage.total_cost",
    "gen_ai.usage.cost_usd",
    "pi.gen_ai.cost.estimated_usd",
)
# OpenCode plugins write 0 when they have no price, so 0 means "not reported".
ZERO_MEANS_UNKNOWN_KEYS = ("opencode.llm.cost.total", "opencode.llm.cost")
LANGFUSE_COST_KEY = "langfuse.observation.cost_details"
COST_CURRENCY_KEY = "gen_ai.usage.cost.currency"
ALL_COST_KEYS = frozenset(
    (*REPORTED_COST_KEYS, *ZERO_MEANS_UNKNOWN_KEYS, LANGFUSE_COST_KEY)
)


class InvalidAttributeError(OtelCostError):
    """An attribute contains a value of the wrong type or range."""


def harness_for(resource: Mapping[str, Any]) -> str:
    """Return the harness name for a resource, from ``service.name`` by default."""
    explicit = first_text([resource], keys.HARNESS_KEYS)
    if explicit:
        return explicit
    service = text(resource.get("service.name"))
    for prefix, harness in SERVICE_HARNESS_PREFIXES:
        if service.startswith(prefix):
            return harness
    return service or DEFAULT_HARNESS


OWNER_FIELDS = {
    "session_id": keys.SESSION_KEYS,
    "project": keys.PROJECT_KEYS,
    "team": keys.TEAM_KEYS,
    "user": keys.USER_KEYS,
    "cost_center": keys.COST_CENTER_KEYS,
    "task_type": keys.TASK_TYPE_KEYS,
    "git_repo": keys.GIT_REPO_KEYS,
    "git_branch": keys.GIT_BRANCH_KEYS,
}
OWNER_KEYS = frozenset(key for names in OWNER_FIELDS.values() for key in names)


# Each owner key, with its field and its rank among that field's keys.
OWNER_KEY_RANKS = {
    key: (field, rank)
    for field, names in OWNER_FIELDS.items()
    for rank, key in enumerate(names)
}


def owners(attrs: Mapping[str, Any]) -> dict[str, str]:
    """Return the owner fields named by one set of attributes ('' when absent)."""
    # Walk the attributes rather than every known key: an item carries few of them.
    named = _named_owners(attrs, OWNER_KEYS.intersection(attrs))
    return {**dict.fromkeys(OWNER_FIELDS, ""), **named}


def _named_owners(attrs: Mapping[str, Any], keys: Iterable[str]) -> dict[str, str]:
    # The fields with a non-empty value among ``keys``, each from its most
    # specific key.
    found: dict[str, str] = {}
    ranks: dict[str, int] = {}
    for key in keys:
        field, rank = OWNER_KEY_RANKS[key]
        if rank < ranks.get(field, len(OWNER_FIELDS[field])):
            # A long session id keeps a hash of the whole, as event ids do.
            read = id_text if field == "session_id" else text
            value = read(attrs[key])
            if value:
                found[field] = value
                ranks[field] = rank
    return found


@dataclass(frozen=True)
class ResourceInfo:
    """Harness and owners of a resource, read once for all the items under it."""

    attributes: dict[str, Any]
    harness: str
    owners: dict[str, str]
    #: ``service.name`` as kept on each event, None when the resource has none.
    service_name: str | None

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> ResourceInfo:
        """Read the harness, owners and service name of a resource."""
        service_name = text(attrs["service.name"]) if "service.name" in attrs else None
        return cls(attrs, harness_for(attrs), owners(attrs), service_name)


def attribute(
    event: CostEvent, attrs: Mapping[str, Any], resource: ResourceInfo
) -> CostEvent:
    """Fill the owner fields of ``event`` from item attributes, then the resource."""
    found = resource.owners
    keys = OWNER_KEYS.intersection(attrs)
    if keys:
        found = {**found, **_named_owners(attrs, keys)}
    event.session_id = event.session_id or found["session_id"]
    event.project = found["project"]
    event.team = found["team"]
    event.user = found["user"]
    event.cost_center = found["cost_center"]
    event.task_type = found["task_type"]
    event.git_repo = found["git_repo"]
    event.git_branch = found["git_branch"]
    if resource.service_name is not None:
        event.attributes["service.name"] = resource.service_name
    return event


def reported_cost(attrs: Mapping[str, Any]) -> Decimal | None:
    """Return the USD cost another tool reported on an item, if any.

    Raises `InvalidAttributeError` when a cost attribute is not a non-negative number.
    """
    if attrs.keys().isdisjoint(ALL_COST_KEYS):
        return None
    currency = text(attrs.get(COST_CURRENCY_KEY)).upper()
    for key in REPORTED_COST_KEYS:
        if key in attrs:
            if key == "gen_ai.usage.cost.amount" and currency not in ("", "USD"):
                continue
            return usd(attrs[key], key)
    for key in ZERO_MEANS_UNKNOWN_KEYS:
        if key in attrs:
            amount = usd(attrs[key], key)
            return amount if amount else None
    if LANGFUSE_COST_KEY in attrs:
        return _langfuse_total(attrs[LANGFUSE_COST_KEY])
    return None


#: Reported amounts at or above this are rejected: no single request costs a
#: trillion dollars, and sums of such amounts must fit Decimal(38, 12).
MAX_USD = Decimal(10**12)


def usd(value: Any, name: str) -> Decimal:
    """Return a non-negative amount as an exact Decimal (floats via their repr)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidAttributeError(f"{name} must be a number of USD, got {value!r}")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise InvalidAttributeError(
            f"{name} must be a number of USD, got {value!r}"
        ) from None
    if not amount.is_finite() or amount < 0:
        raise InvalidAttributeError(
            f"{name} must be a finite amount >= 0, got {value!r}"
        )
    if amount >= MAX_USD:
        raise InvalidAttributeError(
            f"{name} must be below {MAX_USD} USD, got {value!r:.40}"
        )
    return amount


def _langfuse_total(value: Any) -> Decimal | None:
    # Langfuse keeps a JSON map of cost per usage type; "total" is the sum.
    try:
        details = orjson.loads(value) if isinstance(value, str) else None
    except orjson.JSONDecodeError:
        details = None
    if not isinstance(details, dict) or "total" not in details:
        raise InvalidAttributeError(
            f"{LANGFUSE_COST_KEY} must be a JSON object with a 'total', got {value!r:.80}"
        )
    return usd(details["total"], f"{LANGFUSE_COST_KEY}.total")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The range of `time_out_of_range` in nanoseconds, so that a time in range is
# accepted with two integer comparisons.
EARLIEST_NANOS = (EARLIEST_TS - EPOCH) // timedelta(microseconds=1) * 1000
LATEST_NANOS = (LATEST_TS - EPOCH) // timedelta(microseconds=1) * 1000


def nanos_to_datetime(nanos: int) -> datetime:
    """Return a UTC time from nanoseconds since the Unix epoch.

    Raises `InvalidAttributeError` for a time no event can have.
    """
    # Positional arguments, because timedelta is faster with them than with keywords.
    ts = EPOCH + timedelta(0, 0, nanos // 1000)
    if EARLIEST_NANOS <= nanos < LATEST_NANOS:
        return ts
    return checked_time(ts)


def checked_time(ts: datetime) -> datetime:
    """Return ``ts``, or raise `InvalidAttributeError` when no event has that time."""
    problem = time_out_of_range(ts)
    if problem:
        raise InvalidAttributeError(f"event time {problem}")
    return ts


def kept_attributes(attrs: Mapping[str, Any], names: Sequence[str]) -> dict[str, str]:
    """Return the named scalar attributes that are present, as strings.

    Only names, ids and settings are kept; prompt and payload attributes never
    are, because the store must hold no prompt text.
    """
    if attrs.keys().isdisjoint(names):
        return {}
    kept = {}
    for name in names:
        if name in attrs:
            value = text(attrs[name])
            if value:
                kept[name] = value
    return kept
