"""Rate cards in LiteLLM's ``model_prices_and_context_window.json`` format.

Every price is read as an exact `Decimal` straight from the JSON text, so
``3e-06`` stays three micro-dollars and never passes through a float.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from otel_cost.errors import RateCardError

logger = logging.getLogger(__name__)

TIER_PATTERN = re.compile(r"_above_(\d+)k_tokens")
# LiteLLM's documentation entry, not a model.
IGNORED_KEYS = frozenset({"sample_spec"})


@dataclass(frozen=True)
class Finding:
    """A suspicious rate-card entry, reported instead of silently accepted."""

    model: str
    field: str
    message: str
    #: True when the entry is unusable (a negative price), not merely odd.
    invalid: bool = False


@dataclass(frozen=True)
class ModelRates:
    """The raw price fields of one model, as exact decimals."""

    name: str
    provider: str
    fields: dict[str, Decimal]
    web_search_usd: Decimal | None = None
    tier_thresholds: tuple[int, ...] = ()
    #: Multipliers on every rate, from ``provider_specific_entry`` (``fast``).
    multipliers: dict[str, Decimal] = field(default_factory=dict)

    def rate(self, key: str) -> Decimal | None:
        """Return the price under ``key``, or None when the card lacks it."""
        return self.fields.get(key)


@dataclass
class RateCard:
    """One version of the price list, in force from ``effective_from``."""

    version: str
    effective_from: datetime
    models: dict[str, ModelRates]
    source: str = ""
    findings: list[Finding] = field(default_factory=list)
    #: A pinned card takes precedence over dated cards for events at any time.
    pinned: bool = False

    def lookup(self, model: str) -> ModelRates | None:
        """Return the rates stored under exactly this key."""
        return self.models.get(model)


def load_rate_card(path: Path, version: str, effective_from: datetime) -> RateCard:
    """Read a LiteLLM-format rate card and check it for suspicious entries."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except FileNotFoundError as exc:
        raise RateCardError(f"rate card {str(path)!r} not found") from exc
    except (OSError, ValueError) as exc:
        raise RateCardError(
            f"rate card {str(path)!r} is not valid JSON: {exc}"
        ) from exc
    if not isinstance(raw, dict):
        raise RateCardError(
            f"rate card {str(path)!r} must be a JSON object keyed by model name"
        )
    return parse_rate_card(raw, version, effective_from, source=str(path))


def parse_rate_card(
    raw: dict[str, Any], version: str, effective_from: datetime, source: str = ""
) -> RateCard:
    """Build a rate card from the decoded JSON object."""
    card = RateCard(version=version, effective_from=effective_from, models={})
    card.source = source
    for name, entry in raw.items():
        if name in IGNORED_KEYS or not isinstance(entry, dict):
            continue
        rates = _parse_entry(name, entry, card.findings)
        if rates is not None:
            card.models[name] = rates
    for rates in card.models.values():
        card.findings.extend(check_rates(rates))
    return card


def _parse_entry(
    name: str, entry: dict[str, Any], findings: list[Finding]
) -> ModelRates | None:
    fields: dict[str, Decimal] = {}
    for key, value in entry.items():
        if not (key.endswith("_cost") or "_cost_" in key):
            continue
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            continue
        if value < 0:
            # A negative price is never used; check_rates cannot see it, so
            # the finding is recorded here.
            findings.append(
                Finding(name, key, f"negative price {value}; not used", invalid=True)
            )
            continue
        fields[key] = Decimal(value)
    web_search = _web_search_fee(entry.get("search_context_cost_per_query"))
    if not fields and web_search is None:
        return None
    thresholds = sorted(
        {
            int(match.group(1)) * 1000
            for key in fields
            for match in [TIER_PATTERN.search(key)]
            if match
        }
    )
    provider = entry.get("litellm_provider")
    return ModelRates(
        name=name,
        provider=provider if isinstance(provider, str) else "",
        fields=fields,
        web_search_usd=web_search,
        tier_thresholds=tuple(thresholds),
        multipliers=_multipliers(entry.get("provider_specific_entry")),
    )


def _multipliers(value: Any) -> dict[str, Decimal]:
    if not isinstance(value, dict):
        return {}
    return {
        key: Decimal(number)
        for key, number in value.items()
        if isinstance(number, int | Decimal) and not isinstance(number, bool)
    }


def _web_search_fee(value: Any) -> Decimal | None:
    # LiteLLM prices a search per query by context size; agents do not report
    # the size, so the medium size is the one charged.
    if isinstance(value, dict):
        fee = value.get("search_context_size_medium")
        if isinstance(fee, int | Decimal) and not isinstance(fee, bool):
            return Decimal(fee)
    return None


def check_rates(rates: ModelRates) -> list[Finding]:
    """Return the suspicious entries of one model's rates."""
    findings: list[Finding] = []
    input_rate = rates.rate("input_cost_per_token")
    read_rate = rates.rate("cache_read_input_token_cost")
    write_5m = rates.rate("cache_creation_input_token_cost")
    write_1h = rates.rate("cache_creation_input_token_cost_above_1hr")
    if input_rate is not None and rates.rate("output_cost_per_token") is None:
        findings.append(
            Finding(
                rates.name, "output_cost_per_token", "input price without output price"
            )
        )
    if input_rate is not None and read_rate is not None and read_rate > input_rate:
        findings.append(
            Finding(
                rates.name,
                "cache_read_input_token_cost",
                f"cache read {read_rate} is dearer than input {input_rate}",
            )
        )
    if write_5m is not None and read_rate is not None and write_5m < read_rate:
        findings.append(
            Finding(
                rates.name,
                "cache_creation_input_token_cost",
                f"cache write {write_5m} is cheaper than cache read {read_rate}",
            )
        )
    if write_5m is not None and write_1h is not None and write_1h < write_5m:
        findings.append(
            Finding(
                rates.name,
                "cache_creation_input_token_cost_above_1hr",
                f"1-hour cache write {write_1h} is cheaper than 5-minute write {write_5m}",
            )
        )
    return findings
