"""Model id resolution."""

from __future__ import annotations

import pytest

from otel_cost.pricing.resolve import resolve_model

CARD = {
    "claude-sonnet-4-5",
    "claude-opus-4-8",
    "gpt-5",
    "gpt-5.5",
    "gemini-2.5-pro",
    "claude-haiku-4-5-20251001",
}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("us.anthropic.claude-opus-4-8-v1:0", "claude-opus-4-8"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("claude-opus-4-8@20260301", "claude-opus-4-8"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001"),
        ("openai/gpt-5.5", "gpt-5.5"),
        ("GPT-5", "gpt-5"),
        ("gemini-2.5-pro", "gemini-2.5-pro"),
    ],
)
def test_resolve_known_decorations(model: str, expected: str) -> None:
    assert resolve_model(model, CARD.__contains__) == expected


@pytest.mark.parametrize(
    "model",
    [
        "gpt-5.6",
        "gpt-5-mini",
        "claude-sonnet-4-6",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
        "",
        "claude-sonnet",
    ],
)
def test_resolve_never_falls_back(model: str) -> None:
    assert resolve_model(model, CARD.__contains__) is None
