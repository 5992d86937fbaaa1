"""The normalised cost event: one record per priced action, whatever its source."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

#: Event times outside [2000-01-01, 2100-01-01) are rejected: the rollups store
#: whole seconds in 32 bits, which end in 2106, and no agent ran before 2000.
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TS = datetime(2100, 1, 1, tzinfo=UTC)


def time_out_of_range(ts: datetime) -> str | None:
    """Return why ``ts`` cannot be an event time, or None when it can."""
    if EARLIEST_TS <= ts < LATEST_TS:
        return None
    return f"{ts.isoformat()} is outside 2000-01-01 to 2100-01-01"


class TokenCategory(StrEnum):
    """Mutually exclusive token categories; their counts add up to the request."""

    INPUT = "input"
    CACHE_READ = "cache_read"
    CACHE_WRITE_5M = "cache_write_5m"
    CACHE_WRITE_1H = "cache_write_1h"
    OUTPUT = "output"
    REASONING = "reasoning"
    IMAGE_INPUT = "image_input"
    AUDIO_INPUT = "audio_input"
    IMAGE_OUTPUT = "image_output"
    AUDIO_OUTPUT = "audio_output"


class FeeCategory(StrEnum):
    """Counted per-request fees, priced per unit instead of per token."""

    WEB_SEARCH = "web_search"
    TOOL_CALL = "tool_call"


PROMPT_CATEGORIES = (
    TokenCategory.INPUT,
    TokenCategory.CACHE_READ,
    TokenCategory.CACHE_WRITE_5M,
    TokenCategory.CACHE_WRITE_1H,
    TokenCategory.IMAGE_INPUT,
    TokenCategory.AUDIO_INPUT,
)


class CostStatus(StrEnum):
    """How far an event's cost can be trusted."""

    PRICED = "priced"
    ESTIMATED = "estimated"
    UNPRICED = "unpriced"


@dataclass(frozen=True)
class Usage:
    """Token and fee counts in the canonical, exclusive categories."""

    tokens: dict[TokenCategory, int] = field(default_factory=dict)
    fees: dict[FeeCategory, int] = field(default_factory=dict)

    def get(self, category: TokenCategory) -> int:
        """Return the count of one token category, zero when absent."""
        return self.tokens.get(category, 0)

    @property
    def prompt_tokens(self) -> int:
        """Every token sent to the model: uncached input, cache reads and writes."""
        return sum(self.get(category) for category in PROMPT_CATEGORIES)

    @property
    def total_tokens(self) -> int:
        """The sum of every token category."""
        return sum(self.tokens.values())

    def merge_max(self, other: Usage) -> Usage:
        """Return the per-field maximum, for revisions of one streamed response."""
        tokens = dict(self.tokens)
        for category, count in other.tokens.items():
            tokens[category] = max(tokens.get(category, 0), count)
        fees = dict(self.fees)
        for fee, count in other.fees.items():
            fees[fee] = max(fees.get(fee, 0), count)
        return Usage(tokens=tokens, fees=fees)


class CostLine(NamedTuple):
    """One priced category of one event (a tuple: events carry several of them)."""

    category: str
    quantity: int
    usd_per_unit: Decimal
    cost_usd: Decimal


@dataclass(slots=True)
class CostEvent:
    """One cost-bearing action (LLM call, tool call or fee) in canonical form."""

    event_id: str
    ts: datetime
    harness: str
    source: str
    session_id: str = ""
    provider: str = ""
    model_requested: str = ""
    model: str = ""
    project: str = ""
    task_type: str = ""
    user: str = ""
    team: str = ""
    cost_center: str = ""
    git_repo: str = ""
    git_branch: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_session_id: str = ""
    operation: str = "chat"
    tool_name: str = ""
    outcome: str = "ok"
    error_type: str = ""
    latency_ms: int = 0
    service_tier: str = ""
    usage: Usage = field(default_factory=Usage)
    attributes: dict[str, str] = field(default_factory=dict)
    reported_cost_usd: Decimal | None = None
    # Filled in by pricing.
    resolved_model: str = ""
    pricing_version: str = ""
    cost_status: CostStatus = CostStatus.UNPRICED
    cost_usd: Decimal | None = None
    cost_lines: list[CostLine] = field(default_factory=list)

    def replace(self, **changes: object) -> CostEvent:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def stable_id(*parts: object) -> str:
    """Return a short, deterministic id derived from the given parts."""
    joined = "\x1f".join(str(part) for part in parts)
    return hashlib.blake2b(joined.encode(), digest_size=16).hexdigest()
