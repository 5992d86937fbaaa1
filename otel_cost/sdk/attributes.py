"""GenAI semantic-convention span attributes for one LLM call, cost included.

Token counts follow the conventions (OpenTelemetry GenAI, v1.40/1.41): input
includes cache reads and writes, output includes reasoning. Cost uses the
draft ``gen_ai.usage.cost.*`` names (amount as a double, ISO 4217 currency,
source ``local``) plus ``gen_ai.usage.cost`` for OpenLIT-style readers, and
the exact decimal amount as a string under ``otel_cost.cost_usd``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from otel_cost.events import CostStatus, TokenCategory, Usage
from otel_cost.pricing.registry import PricingRegistry

T = TokenCategory

PROVIDER_NAMES = {"anthropic": "anthropic", "openai": "openai", "gemini": "gcp.gemini"}
OUTPUT_CATEGORIES = (T.OUTPUT, T.REASONING, T.IMAGE_OUTPUT, T.AUDIO_OUTPUT)


def operation_name(provider: str) -> str:
    """Return ``gen_ai.operation.name``: Gemini's API is ``generate_content``."""
    return "generate_content" if provider == "gemini" else "chat"


def span_name(provider: str, model: str) -> str:
    """Return the span name the conventions give: ``{operation} {request model}``."""
    operation = operation_name(provider)
    return f"{operation} {model}" if model else operation


def request_attributes(provider: str, model: str, stream: bool) -> dict[str, Any]:
    """Return the attributes known when the request starts."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation_name(provider),
        "gen_ai.provider.name": PROVIDER_NAMES.get(provider, provider),
        "gen_ai.request.stream": stream,
    }
    if model:
        attributes["gen_ai.request.model"] = model
    return attributes


def usage_attributes(usage: Usage) -> dict[str, Any]:
    """Return ``gen_ai.usage.*`` counts in the conventions' inclusive form."""
    return {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": sum(usage.get(c) for c in OUTPUT_CATEGORIES),
        "gen_ai.usage.cache_read.input_tokens": usage.get(T.CACHE_READ),
        "gen_ai.usage.cache_creation.input_tokens": usage.get(T.CACHE_WRITE_5M)
        + usage.get(T.CACHE_WRITE_1H),
        "gen_ai.usage.reasoning.output_tokens": usage.get(T.REASONING),
    }


def cost_attributes(
    registry: PricingRegistry | None,
    model: str,
    usage: Usage,
    ts: datetime,
    service_tier: str = "",
    estimated: bool = False,
) -> tuple[dict[str, Any], Decimal | None]:
    """Return the cost attributes of one call and its exact cost (None if unpriced)."""
    if registry is None or not model:
        return {"otel_cost.cost_status": CostStatus.UNPRICED.value}, None
    quote = registry.quote(model, usage, ts, service_tier)
    attributes: dict[str, Any] = {"otel_cost.pricing_version": quote.pricing_version}
    if quote.status is not CostStatus.PRICED or quote.priced is None:
        attributes["otel_cost.cost_status"] = CostStatus.UNPRICED.value
        return attributes, None
    cost = quote.priced.total_usd
    status = CostStatus.ESTIMATED if estimated else CostStatus.PRICED
    attributes.update(
        {
            # Span attributes have no decimal type: the double is for
            # dashboards, the string is the exact amount.
            "gen_ai.usage.cost.amount": float(cost),
            "gen_ai.usage.cost.currency": "USD",
            "gen_ai.usage.cost.source": "local",
            "gen_ai.usage.cost": float(cost),
            "otel_cost.cost_usd": format(cost, "f"),
            "otel_cost.cost_status": status.value,
            "otel_cost.resolved_model": quote.resolved_model or "",
        }
    )
    return attributes, cost
