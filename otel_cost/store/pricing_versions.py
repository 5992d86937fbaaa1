"""Recording which rate cards priced the events of a store."""

from __future__ import annotations

from datetime import UTC, datetime

from otel_cost.pricing.registry import PricingRegistry
from otel_cost.store.connection import Store

COLUMNS = ["version", "effective_from", "source", "models", "findings", "recorded_at"]


def record_pricing_versions(store: Store, registry: PricingRegistry) -> None:
    """Store one row per rate card of ``registry`` (the latest row per version wins)."""
    now = datetime.now(UTC)
    rows = [
        [card.version, card.effective_from, card.source, len(card.models),
         len(card.findings), now]
        for card in registry.cards
    ]  # fmt: skip
    store.insert("pricing_versions", rows, COLUMNS)
