"""Rate-card loading, suspicious entries, and cards in force by date."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from otel_cost.errors import ConfigError, RateCardError
from otel_cost.events import CostStatus, Usage
from otel_cost.events import TokenCategory as T
from otel_cost.pricing.registry import (
    add_card,
    builtin_card,
    card_from_spec,
    load_registry,
)

SUSPICIOUS = {
    "negative-model": {"input_cost_per_token": -1e-06, "output_cost_per_token": 2e-06},
    "dear-cache": {
        "input_cost_per_token": 1e-06,
        "output_cost_per_token": 2e-06,
        "cache_read_input_token_cost": 5e-06,
    },
    "cheap-hour": {
        "input_cost_per_token": 1e-06,
        "output_cost_per_token": 2e-06,
        "cache_creation_input_token_cost": 2e-06,
        "cache_creation_input_token_cost_above_1hr": 1e-06,
    },
    "no-output": {"input_cost_per_token": 1e-06},
}


def write_card(tmp_path: Path, name: str, content: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return path


def test_builtin_card_prices_exactly() -> None:
    card = builtin_card()
    rates = card.lookup("claude-opus-4-8")
    assert rates is not None
    assert rates.rate("input_cost_per_token") == Decimal("0.000005")
    assert rates.rate("cache_creation_input_token_cost_above_1hr") == Decimal("0.00001")
    assert "sample_spec" not in card.models


def test_suspicious_entries_reported(tmp_path: Path) -> None:
    card = card_from_spec(str(write_card(tmp_path, "odd.json", SUSPICIOUS)))
    by_model = {finding.model: finding.message for finding in card.findings}
    assert "negative price" in by_model["negative-model"]
    assert "dearer than input" in by_model["dear-cache"]
    assert "1-hour cache write" in by_model["cheap-hour"]
    assert "without output price" in by_model["no-output"]


def test_invalid_card_names_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(RateCardError, match="broken.json"):
        card_from_spec(str(path))


@pytest.mark.parametrize("suffix", ["notadate", "2026-9-1", ""])
def test_spec_names_invalid_date(tmp_path: Path, suffix: str) -> None:
    write_card(tmp_path, "card2.json", SUSPICIOUS)
    spec = f"{tmp_path / 'card2.json'}@{suffix}"
    with pytest.raises(ConfigError) as caught:
        card_from_spec(spec)
    message = str(caught.value)
    assert message.startswith(f"invalid effective date {suffix!r} in rate card")
    assert "expected PATH@YYYY-MM-DD" in message
    assert "No such file" not in message


def test_spec_with_at_in_file_name(tmp_path: Path) -> None:
    path = write_card(tmp_path, "card@team.json", SUSPICIOUS)
    card = card_from_spec(str(path))
    assert "no-output" in card.models
    assert card.pinned is True


def test_spec_with_at_in_folder_name(tmp_path: Path) -> None:
    spec = str(tmp_path / "user@host" / "card.json")
    with pytest.raises(RateCardError, match="cannot read rate card"):
        card_from_spec(spec)


def test_dated_card_prices_later_events(tmp_path: Path) -> None:
    path = write_card(
        tmp_path,
        "negotiated.json",
        {
            "claude-opus-4-8": {
                "input_cost_per_token": 4e-06,
                "output_cost_per_token": 2e-05,
            }
        },
    )
    registry = load_registry([f"{path}@2026-10-01"])
    usage = Usage(tokens={T.INPUT: 1000})
    before = registry.quote("claude-opus-4-8", usage, datetime(2026, 9, 30, tzinfo=UTC))
    after = registry.quote("claude-opus-4-8", usage, datetime(2026, 10, 1, tzinfo=UTC))
    assert before.priced is not None and after.priced is not None
    assert before.priced.total_usd == Decimal("0.005")
    assert after.priced.total_usd == Decimal("0.004")
    assert before.pricing_version == "litellm-2026-07-24"
    assert after.pricing_version.startswith("file:negotiated.json:")


def test_new_card_overrides_only_its_models(tmp_path: Path) -> None:
    path = write_card(
        tmp_path,
        "small.json",
        {"private-x": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}},
    )
    registry = load_registry([f"{path}@2026-10-01"])
    at = datetime(2026, 11, 1, tzinfo=UTC)
    opus = registry.quote("claude-opus-4-8", Usage(tokens={T.INPUT: 1}), at)
    assert opus.status is CostStatus.PRICED
    assert opus.pricing_version == "litellm-2026-07-24"
    private = registry.quote("private-x", Usage(tokens={T.INPUT: 10}), at)
    assert private.priced is not None
    assert private.priced.total_usd == Decimal("0.00001")
    assert private.pricing_version.startswith("file:small.json:")
    september = datetime(2026, 9, 1, tzinfo=UTC)
    early = registry.quote("private-x", Usage(tokens={T.INPUT: 10}), september)
    assert early.status is CostStatus.UNPRICED


def test_undated_card_pinned_for_all_times(tmp_path: Path) -> None:
    path = write_card(
        tmp_path,
        "pinned.json",
        {
            "claude-opus-4-8": {
                "input_cost_per_token": 1e-06,
                "output_cost_per_token": 1e-06,
            }
        },
    )
    registry = load_registry([str(path)])
    for at in (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)):
        quote = registry.quote("claude-opus-4-8", Usage(tokens={T.INPUT: 1000}), at)
        assert quote.priced is not None
        assert quote.priced.total_usd == Decimal("0.001")
    # Models the pinned card lacks still come from the built-in card.
    december = datetime(2026, 12, 1, tzinfo=UTC)
    gpt = registry.quote("gpt-5", Usage(tokens={T.INPUT: 1000}), december)
    assert gpt.pricing_version == "litellm-2026-07-24"


def test_negative_price_never_used(tmp_path: Path) -> None:
    path = write_card(tmp_path, "neg.json", SUSPICIOUS)
    registry = load_registry([f"{path}@2026-10-01"])
    november = datetime(2026, 11, 1, tzinfo=UTC)
    quote = registry.quote("negative-model", Usage(tokens={T.INPUT: 1000}), november)
    assert quote.status is CostStatus.UNPRICED


def test_empty_card_rejected_on_add(tmp_path: Path) -> None:
    path = write_card(tmp_path, "empty.json", {"x": {"input_cost_per_token": "cheap"}})
    with pytest.raises(RateCardError, match="no model with a valid price"):
        add_card(path, date(2026, 12, 1))


def test_registry_add_persists_card(tmp_path: Path) -> None:
    path = write_card(
        tmp_path,
        "discount.json",
        {"gpt-5.5": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}},
    )
    add_card(path, date(2026, 12, 1), "discount-2026-12")
    registry = load_registry()
    assert [card.version for card in registry.cards] == [
        "litellm-2026-07-24",
        "discount-2026-12",
    ]
    quote = registry.quote(
        "gpt-5.5", Usage(tokens={T.OUTPUT: 10}), datetime(2026, 12, 2, tzinfo=UTC)
    )
    assert quote.priced is not None
    assert quote.priced.total_usd == Decimal("0.00001")
