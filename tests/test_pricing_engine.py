"""Cost engine rules, each checked against rates read from the built-in card by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from otel_cost.events import CostEvent, CostStatus, FeeCategory, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.pricing.registry import PricingRegistry, builtin_card, card_from_spec

AT = datetime(2026, 11, 1, tzinfo=UTC)


def quote_total(
    registry: PricingRegistry, model: str, usage: Usage, tier: str = ""
) -> D:
    quote = registry.quote(model, usage, AT, tier)
    assert quote.status is CostStatus.PRICED
    assert quote.priced is not None
    return quote.priced.total_usd


def test_sonnet_plain_request(registry: PricingRegistry) -> None:
    # claude-sonnet-4-5: input 3e-06, output 1.5e-05, cache read 3e-07,
    # cache write 3.75e-06, 1-hour write 6e-06.
    usage = Usage(
        tokens={
            T.INPUT: 1000,
            T.CACHE_READ: 50_000,
            T.CACHE_WRITE_5M: 2000,
            T.CACHE_WRITE_1H: 1000,
            T.OUTPUT: 800,
        }
    )
    expected = (
        1000 * D("0.000003")
        + 50_000 * D("0.0000003")
        + 2000 * D("0.00000375")
        + 1000 * D("0.000006")
        + 800 * D("0.000015")
    )
    assert quote_total(registry, "claude-sonnet-4-5", usage) == expected
    assert expected == D("0.0435")


def test_long_context_tier_moves_whole_request(registry: PricingRegistry) -> None:
    # Prompt = 1000 + 199_500 + 500 = 201_000 > 200k: every category takes
    # its _above_200k_tokens rate (input 6e-06, read 6e-07, write 7.5e-06,
    # output 2.25e-05).
    usage = Usage(
        tokens={
            T.INPUT: 1000,
            T.CACHE_READ: 199_500,
            T.CACHE_WRITE_5M: 500,
            T.OUTPUT: 100,
        }
    )
    expected = (
        1000 * D("0.000006")
        + 199_500 * D("0.0000006")
        + 500 * D("0.0000075")
        + 100 * D("0.0000225")
    )
    assert quote_total(registry, "claude-sonnet-4-5", usage) == expected


def test_prompt_at_threshold_stays_base(registry: PricingRegistry) -> None:
    usage = Usage(tokens={T.INPUT: 200_000, T.OUTPUT: 10})
    expected = 200_000 * D("0.000003") + 10 * D("0.000015")
    assert quote_total(registry, "claude-sonnet-4-5", usage) == expected


def test_one_hour_write_tiered_rate(registry: PricingRegistry) -> None:
    # Above 200k the 1-hour write uses
    # cache_creation_input_token_cost_above_1hr_above_200k_tokens = 1.2e-05.
    usage = Usage(tokens={T.INPUT: 150_000, T.CACHE_WRITE_1H: 60_000})
    expected = 150_000 * D("0.000006") + 60_000 * D("0.000012")
    assert quote_total(registry, "claude-sonnet-4-5", usage) == expected


def test_gpt_tier_272k_threshold(registry: PricingRegistry) -> None:
    # gpt-5.5 above 272k: input 1e-05, cache read 1e-06, output 4.5e-05.
    usage = Usage(tokens={T.INPUT: 100_000, T.CACHE_READ: 180_000, T.OUTPUT: 1000})
    expected = 100_000 * D("0.00001") + 180_000 * D("0.000001") + 1000 * D("0.000045")
    assert quote_total(registry, "gpt-5.5", usage) == expected


def test_reasoning_without_rate_uses_output(registry: PricingRegistry) -> None:
    # gpt-5 has no reasoning rate: reasoning is priced at output 1e-05.
    usage = Usage(tokens={T.INPUT: 10, T.OUTPUT: 5, T.REASONING: 20})
    expected = 10 * D("0.00000125") + 25 * D("0.00001")
    assert quote_total(registry, "gpt-5", usage) == expected


def test_cache_write_without_rate_uses_input(registry: PricingRegistry) -> None:
    # gpt-5 has no cache-write rate: writes cost plain input, no multiplier.
    usage = Usage(tokens={T.CACHE_WRITE_5M: 1000})
    assert quote_total(registry, "gpt-5", usage) == 1000 * D("0.00000125")


def test_one_hour_without_rate_uses_write(registry: PricingRegistry) -> None:
    # gemini-2.5-pro has no 1-hour and no 5-minute write rate under 200k:
    # the 1-hour write falls back to plain input 1.25e-06.
    usage = Usage(tokens={T.CACHE_WRITE_1H: 1000})
    assert quote_total(registry, "gemini-2.5-pro", usage) == 1000 * D("0.00000125")


@pytest.mark.parametrize(
    ("tier", "input_rate", "output_rate"),
    [
        ("priority", "0.00001", "0.00006"),
        ("flex", "0.0000025", "0.000015"),
        ("batch", "0.0000025", "0.000015"),
        ("standard", "0.000005", "0.00003"),
    ],
)
def test_service_tier_rates(
    registry: PricingRegistry, tier: str, input_rate: str, output_rate: str
) -> None:
    usage = Usage(tokens={T.INPUT: 1000, T.OUTPUT: 100})
    expected = 1000 * D(input_rate) + 100 * D(output_rate)
    assert quote_total(registry, "gpt-5.5", usage, tier) == expected


def test_priority_cache_read_rate(registry: PricingRegistry) -> None:
    usage = Usage(tokens={T.CACHE_READ: 1000})
    assert quote_total(registry, "gpt-5.5", usage, "priority") == 1000 * D("0.000001")


def test_web_search_per_query_fee(registry: PricingRegistry) -> None:
    usage = Usage(tokens={T.INPUT: 100}, fees={FeeCategory.WEB_SEARCH: 3})
    expected = 100 * D("0.000003") + 3 * D("0.01")
    assert quote_total(registry, "claude-sonnet-4-5", usage) == expected


def test_missing_search_fee_named(registry: PricingRegistry) -> None:
    # The card lists no web-search fee for claude-haiku-4-5.
    event = CostEvent(
        event_id="h",
        ts=AT,
        harness="claude-code",
        source="import",
        model="claude-haiku-4-5",
        usage=Usage(tokens={T.INPUT: 10}, fees={FeeCategory.WEB_SEARCH: 3}),
    )
    priced = registry.price_event(event)
    assert priced.cost_status is CostStatus.PRICED
    assert priced.cost_usd == 10 * D("0.000001")
    assert priced.attributes["otel_cost.unpriced_fees"] == "web_search"


def test_unknown_model_is_unpriced(registry: PricingRegistry) -> None:
    quote = registry.quote("my-private-model", Usage(tokens={T.INPUT: 10}), AT)
    assert quote.status is CostStatus.UNPRICED
    assert quote.priced is None
    assert quote.resolved_model is None


def test_card_in_force_at_event_time(registry: PricingRegistry) -> None:
    assert registry.card_at(AT).version == "litellm-2026-07-24"


def test_fast_mode_multiplies_rates(registry: PricingRegistry) -> None:
    # The card gives claude-opus-4-8 provider_specific_entry.fast = 6.0.
    rates = registry.cards[0].models["claude-opus-4-8"]
    factor = rates.multipliers["fast"]
    usage = Usage(tokens={T.INPUT: 100, T.OUTPUT: 10}, fees={FeeCategory.WEB_SEARCH: 1})
    quote = registry.quote("claude-opus-4-8", usage, AT, speed="fast")
    assert quote.priced is not None
    base = 100 * D("0.000005") + 10 * D("0.000025") + D("0.01")
    assert quote.priced.total_usd == base * factor
    assert factor == D("6.0")


def test_session_totals_skip_tiers(registry: PricingRegistry) -> None:
    # A session total of 300k input tokens is many requests, not one long one.
    usage = Usage(tokens={T.INPUT: 300_000})
    quote = registry.quote("claude-sonnet-4-5", usage, AT, single_request=False)
    assert quote.priced is not None
    assert quote.priced.total_usd == 300_000 * D("0.000003")
    assert quote.priced.tier_threshold is None


def make_event(model: str, usage: Usage, **fields: Any) -> CostEvent:
    return CostEvent(
        event_id="e",
        ts=AT,
        harness="codex",
        source="import",
        model=model,
        usage=usage,
        **fields,
    )


def test_price_event_missing_rate_unpriced(tmp_path: Path) -> None:
    card_path = tmp_path / "partial.json"
    card_path.write_text(json.dumps({"no-output": {"input_cost_per_token": 1e-06}}))
    registry = PricingRegistry([builtin_card(), card_from_spec(str(card_path))])
    usage = Usage(tokens={T.INPUT: 10, T.OUTPUT: 5})
    event = registry.price_event(make_event("no-output", usage))
    assert event.cost_status is CostStatus.UNPRICED
    assert event.cost_usd is None
    assert event.cost_lines == []
    assert event.resolved_model == "no-output"
    assert event.pricing_version.startswith("file:partial.json:")


def test_price_event_unknown_model(registry: PricingRegistry) -> None:
    usage = Usage(tokens={T.INPUT: 10})
    event = registry.price_event(make_event("my-private-model", usage))
    assert event.cost_status is CostStatus.UNPRICED
    assert event.cost_usd is None
    assert event.cost_lines == []
    assert event.resolved_model == ""
    assert event.pricing_version == "litellm-2026-07-24"


def test_price_event_keeps_estimated(registry: PricingRegistry) -> None:
    usage = Usage(tokens={T.INPUT: 1000})
    event = make_event("claude-sonnet-4-5", usage, cost_status=CostStatus.ESTIMATED)
    registry.price_event(event)
    assert event.cost_status is CostStatus.ESTIMATED
    assert event.cost_usd == 1000 * D("0.000003")


def test_price_event_matches_quote(registry: PricingRegistry) -> None:
    usage = Usage(
        tokens={T.INPUT: 250_000, T.OUTPUT: 10}, fees={FeeCategory.WEB_SEARCH: 2}
    )
    cases = [
        ("claude-opus-4-8", {"speed": "fast"}, True),
        ("claude-sonnet-4-5", {"granularity": "session"}, False),
        ("claude-sonnet-4-5", {}, True),
    ]
    for model, attributes, single_request in cases:
        event = make_event(model, usage, attributes=dict(attributes))
        registry.price_event(event)
        quote = registry.quote(
            model, usage, AT, "", attributes.get("speed", ""), single_request
        )
        assert quote.priced is not None
        assert event.cost_usd == quote.priced.total_usd
        assert event.cost_lines == quote.priced.lines
        assert event.resolved_model == quote.resolved_model
        assert event.cost_status is CostStatus.PRICED


def test_tier_starts_above_threshold(registry: PricingRegistry) -> None:
    at_limit = Usage(tokens={T.INPUT: 150_000, T.CACHE_READ: 50_000, T.OUTPUT: 10})
    above = Usage(tokens={T.INPUT: 150_001, T.CACHE_READ: 50_000, T.OUTPUT: 10})
    plain = registry.quote("claude-sonnet-4-5", at_limit, AT)
    tiered = registry.quote("claude-sonnet-4-5", above, AT)
    assert plain.priced is not None
    assert tiered.priced is not None
    assert plain.priced.tier_threshold is None
    assert tiered.priced.tier_threshold == 200_000
    assert plain.priced.lines[0].usd_per_unit == D("0.000003")
    assert tiered.priced.lines[0].usd_per_unit == D("0.000006")
