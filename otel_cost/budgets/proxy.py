"""Budget gates for a local LLM API proxy (``otel-cost instrument``).

`proxy_action` turns a request body into a gate action; `rejection_response` builds the
provider's own error response for a denied request. The status is 400 with a
non-retryable error type: the SDKs and agents retry 429 and 5xx responses, and
a gate denial must stop the agent, not make it retry.
"""

from __future__ import annotations

from typing import Any

from otel_cost.budgets.actions import BYTES_PER_TOKEN, Action, ActionKind

REJECTION_STATUS = 400


def _text_bytes(value: Any) -> int:
    # Counts the text of strings, lists and content blocks, whatever the nesting.
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, list):
        return sum(_text_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(
            _text_bytes(value[key])
            for key in ("text", "content", "parts", "input")
            if key in value
        )
    return 0


def request_bytes(provider: str, body: dict[str, Any]) -> int:
    """Return the bytes of prompt text in a request body of the provider's API."""
    if provider == "anthropic":
        return _text_bytes(body.get("system")) + _text_bytes(body.get("messages"))
    if provider == "openai":
        return (
            _text_bytes(body.get("messages"))
            + _text_bytes(body.get("input"))
            + _text_bytes(body.get("instructions"))
        )
    if provider == "gemini":
        return _text_bytes(body.get("contents")) + _text_bytes(
            body.get("systemInstruction")
        )
    raise ValueError(
        f"unknown provider {provider!r}; expected anthropic, openai or gemini"
    )


def proxy_action(
    provider: str, harness: str, session_id: str, model: str, body: dict[str, Any]
) -> Action:
    """Return the gate action of one proxied request; its whole prompt is known."""
    tokens = request_bytes(provider, body) // BYTES_PER_TOKEN
    return Action(
        ActionKind.MODEL_CALL,
        harness,
        session_id,
        model=model,
        request_tokens=tokens,
        label=f"a {tokens}-token {model or provider} request",
    )


def rejection_response(provider: str, message: str) -> tuple[int, dict[str, Any]]:
    """Return the status and JSON body of a denied request, in the provider's shape."""
    if provider == "anthropic":
        return REJECTION_STATUS, {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": message},
        }
    if provider == "openai":
        return REJECTION_STATUS, {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "budget_exceeded",
            }
        }
    if provider == "gemini":
        return REJECTION_STATUS, {
            "error": {
                "code": REJECTION_STATUS,
                "message": message,
                "status": "FAILED_PRECONDITION",
            }
        }
    raise ValueError(
        f"unknown provider {provider!r}; expected anthropic, openai or gemini"
    )
