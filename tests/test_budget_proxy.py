"""Gate helpers for the instrument proxy: request size and provider error shapes."""

from __future__ import annotations

import pytest

from otel_cost.budgets.proxy import proxy_action, rejection_response, request_bytes


def test_anthropic_request_bytes() -> None:
    body = {
        "system": [{"type": "text", "text": "s" * 100}],
        "messages": [
            {"role": "user", "content": "u" * 300},
            {"role": "assistant", "content": [{"type": "text", "text": "a" * 200}]},
        ],
    }
    assert request_bytes("anthropic", body) == 600


def test_openai_and_gemini_bytes() -> None:
    chat = {"messages": [{"role": "user", "content": "x" * 40}]}
    responses = {"instructions": "i" * 10, "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "y" * 30}]}]}  # fmt: skip
    gemini = {"contents": [{"role": "user", "parts": [{"text": "z" * 80}]}]}
    assert request_bytes("openai", chat) == 40
    assert request_bytes("openai", responses) == 40
    assert request_bytes("gemini", gemini) == 80


def test_proxy_action_counts_tokens() -> None:
    body = {"messages": [{"role": "user", "content": "q" * 4000}]}
    action = proxy_action("anthropic", "claude-code", "s1", "claude-sonnet-4-5", body)
    assert action.request_tokens == 1000
    assert action.kind.value == "model_call"
    assert action.label == "a 1000-token claude-sonnet-4-5 request"


def test_rejections_use_provider_shapes() -> None:
    status, anthropic = rejection_response("anthropic", "over budget")
    assert status == 400
    assert anthropic == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "over budget"},
    }
    assert rejection_response("openai", "m")[1]["error"]["code"] == "budget_exceeded"
    assert rejection_response("gemini", "m")[1] == {
        "error": {"code": 400, "message": "m", "status": "FAILED_PRECONDITION"}
    }


def test_unknown_provider_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown provider 'bedrock'"):
        rejection_response("bedrock", "m")
