"""The cost engine: price canonical usage with one model's rates.

Rules, in the order they apply:

* Long-context tiers: when the prompt (uncached input, cache reads and cache
  writes) is above a threshold the card names (``_above_200k_tokens``), every
  category of the request takes that tier's rate where the card has one.
* Service tiers: priority, flex and batch take the card's suffixed rates
  (``_priority``, ``_flex``, ``_batches``) where present.
* A cache or reasoning category with no rate of its own is priced at the plain
  input or output rate. A 1-hour cache write with no 1-hour rate is priced at
  the 5-minute write rate. No multiplier is ever invented.
* Web searches are charged per request from the card's per-query fee.
* Anthropic fast mode multiplies every rate, web searches included, by the
  card's ``provider_specific_entry.fast`` factor where the card has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from otel_cost.events import (
    PROMPT_CATEGORIES,
    CostLine,
    FeeCategory,
    TokenCategory,
    Usage,
)
from otel_cost.pricing.ratecard import ModelRates

SERVICE_TIER_SUFFIXES = {
    "": "",
    "standard": "",
    "default": "",
    "auto": "",
    "priority": "_priority",
    "flex": "_flex",
    "batch": "_batches",
}

# Card keys per category, most specific first; the last entry is the
# category's own base key, and the fallback category is tried after it.
CATEGORY_KEYS: dict[TokenCategory, tuple[str, ...]] = {
    TokenCategory.INPUT: ("input_cost_per_token",),
    TokenCategory.CACHE_READ: ("cache_read_input_token_cost",),
    TokenCategory.CACHE_WRITE_5M: ("cache_creation_input_token_cost",),
    TokenCategory.CACHE_WRITE_1H: (
        "cache_creation_input_token_cost_above_1hr",
        "cache_creation_input_token_cost",
    ),
    TokenCategory.OUTPUT: ("output_cost_per_token",),
    TokenCategory.REASONING: ("output_cost_per_reasoning_token",),
    TokenCategory.IMAGE_INPUT: ("input_cost_per_image_token",),
    TokenCategory.AUDIO_INPUT: ("input_cost_per_audio_token",),
    TokenCategory.IMAGE_OUTPUT: ("output_cost_per_image_token",),
    TokenCategory.AUDIO_OUTPUT: ("output_cost_per_audio_token",),
}

FALLBACK: dict[TokenCategory, TokenCategory] = {
    TokenCategory.CACHE_READ: TokenCategory.INPUT,
    TokenCategory.CACHE_WRITE_5M: TokenCategory.INPUT,
    TokenCategory.CACHE_WRITE_1H: TokenCategory.INPUT,
    TokenCategory.REASONING: TokenCategory.OUTPUT,
    TokenCategory.IMAGE_INPUT: TokenCategory.INPUT,
    TokenCategory.AUDIO_INPUT: TokenCategory.INPUT,
    TokenCategory.IMAGE_OUTPUT: TokenCategory.OUTPUT,
    TokenCategory.AUDIO_OUTPUT: TokenCategory.OUTPUT,
}


#: Each category with its name and its rate after the speed factor (None: no rate).
RateTable = dict[TokenCategory, tuple[str, Decimal | None]]


class UnknownServiceTierError(ValueError):
    """The service tier is not a known one."""


@dataclass(frozen=True)
class PricedUsage:
    """The cost lines of one request and their total."""

    lines: list[CostLine]
    total_usd: Decimal
    tier_threshold: int | None
    missing: tuple[str, ...] = ()
    #: Counted fees the card has no price for; the rest of the request is priced.
    unpriced_fees: tuple[str, ...] = ()


class PricedLines(NamedTuple):
    """The fields of a `PricedUsage` as a tuple, which is quicker to build per event."""

    lines: list[CostLine]
    total_usd: Decimal
    tier_threshold: int | None
    missing: tuple[str, ...]
    unpriced_fees: tuple[str, ...]


def price_usage(
    rates: ModelRates,
    usage: Usage,
    service_tier: str = "",
    speed: str = "",
    single_request: bool = True,
) -> PricedUsage:
    """Price every non-zero category of ``usage`` with ``rates``.

    ``single_request`` is False for totals that sum many requests (a whole
    session): their prompt size is no measure of any one request, so the
    long-context tiers are not applied.
    """
    return RatePlan(rates).price(usage, service_tier, speed, single_request)


class RatePlan:
    """One model's rates, with each category's rate looked up once per tier.

    The rate of a category depends only on the long-context tier, the service
    tier and the speed, so a plan kept for a model prices each later request
    with one dictionary lookup per category instead of a search of card keys.
    """

    def __init__(self, rates: ModelRates) -> None:
        self.rates = rates
        self._tables: dict[tuple[str, str, str], RateTable] = {}

    def price(
        self,
        usage: Usage,
        service_tier: str = "",
        speed: str = "",
        single_request: bool = True,
    ) -> PricedUsage:
        """Price ``usage`` under the rules of `price_usage`."""
        priced = self.price_lines(usage, service_tier, speed, single_request)
        return PricedUsage(**priced._asdict())

    def price_lines(
        self,
        usage: Usage,
        service_tier: str = "",
        speed: str = "",
        single_request: bool = True,
    ) -> PricedLines:
        """Price ``usage`` as `price` does, for callers that price every event."""
        rates = self.rates
        suffix = service_tier_suffix(service_tier)
        fast = speed == "fast"
        tokens = usage.tokens
        threshold = None
        if single_request and rates.tier_thresholds:
            prompt = sum([tokens.get(category, 0) for category in PROMPT_CATEGORIES])
            # A prompt at or below the lowest threshold, the common case, takes no tier.
            if prompt > min(rates.tier_thresholds):
                threshold = applicable_threshold(rates, prompt)
        tier = f"_above_{threshold // 1000}k_tokens" if threshold else ""
        table = self._table(tier, suffix, fast)
        lines: list[CostLine] = []
        missing: list[str] = []
        total = Decimal(0)
        # Usage holds only non-zero counts, in category order, so this visits
        # a few categories rather than all of them.
        for category, count in tokens.items():
            if count == 0:
                continue
            name, rate = table[category]
            if rate is None:
                missing.append(name)
                continue
            cost = rate * count
            lines.append(CostLine(name, count, rate, cost))
            total += cost
        unpriced_fees: list[str] = []
        searches = usage.fees.get(FeeCategory.WEB_SEARCH, 0)
        if searches and rates.web_search_usd is not None:
            fee = rates.web_search_usd * _speed_factor(rates, fast)
            lines.append(
                CostLine(FeeCategory.WEB_SEARCH.value, searches, fee, fee * searches)
            )
            total += fee * searches
        elif searches:
            # NOTE: the event stays priced without the fee, so its cost is too
            # low. The event's otel_cost.unpriced_fees attribute names the gap;
            # reports do not show it yet.
            unpriced_fees.append(FeeCategory.WEB_SEARCH.value)
        return PricedLines(
            lines, total, threshold, tuple(missing), tuple(unpriced_fees)
        )

    def _table(self, tier: str, suffix: str, fast: bool) -> RateTable:
        key = (tier, suffix, "fast" if fast else "")
        table = self._tables.get(key)
        if table is None:
            factor = _speed_factor(self.rates, fast)
            table = {
                category: (category.value, None if rate is None else rate * factor)
                for category in TokenCategory
                for rate in [category_rate(self.rates, category, tier, suffix)]
            }
            self._tables[key] = table
        return table


def _speed_factor(rates: ModelRates, fast: bool) -> Decimal:
    return rates.multipliers.get("fast", Decimal(1)) if fast else Decimal(1)


def service_tier_suffix(service_tier: str) -> str:
    """Return the card-key suffix of a service tier."""
    try:
        return SERVICE_TIER_SUFFIXES[service_tier.lower()]
    except KeyError:
        known = ", ".join(sorted(name for name in SERVICE_TIER_SUFFIXES if name))
        raise UnknownServiceTierError(
            f"unknown service tier {service_tier!r}; expected one of {known}"
        ) from None


def applicable_threshold(rates: ModelRates, prompt_tokens: int) -> int | None:
    """Return the highest tier threshold the prompt is above, if any."""
    passed = [limit for limit in rates.tier_thresholds if prompt_tokens > limit]
    return max(passed) if passed else None


def category_rate(
    rates: ModelRates, category: TokenCategory, tier: str, suffix: str
) -> Decimal | None:
    """Return the per-token rate of a category, or None when the card has none."""
    for key in CATEGORY_KEYS[category]:
        rate = _tiered_rate(rates, key, tier, suffix)
        if rate is not None:
            return rate
    fallback = FALLBACK.get(category)
    if fallback is not None:
        return category_rate(rates, fallback, tier, suffix)
    return None


def _tiered_rate(rates: ModelRates, key: str, tier: str, suffix: str) -> Decimal | None:
    # Most specific first: tier and service tier together, then the long-context
    # tier alone, then the service tier alone, then the base rate.
    for candidate in (key + tier + suffix, key + tier, key + suffix, key):
        rate = rates.rate(candidate)
        if rate is not None:
            return rate
    return None
