"""Recognising billable LLM endpoints and the model and stream flag of a request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson


class Provider(StrEnum):
    """The API families the proxy and the SDK understand."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    GEMINI = "gemini"


class WireFormat(StrEnum):
    """One request/response format with its own usage layout."""

    ANTHROPIC_MESSAGES = "anthropic.messages"
    OPENAI_CHAT = "openai.chat_completions"
    OPENAI_RESPONSES = "openai.responses"
    GEMINI_GENERATE = "gemini.generate_content"


@dataclass(frozen=True)
class Endpoint:
    """A billable endpoint matched from a request's method and path."""

    provider: Provider
    wire_format: WireFormat
    #: Model named in the path (Gemini); the other formats name it in the body.
    path_model: str = ""
    #: True when the path alone requests a stream (Gemini ``streamGenerateContent``).
    path_stream: bool = False


@dataclass(frozen=True)
class RequestSummary:
    """The two request facts metering needs; the prompt itself is never kept."""

    model: str
    stream: bool


# Paths end with the operation; any prefix (a gateway's route, an API version)
# may come before it. Anthropic's count_tokens shares the /messages prefix but
# is free, so the pattern anchors at the end.
_ANTHROPIC = re.compile(r"/messages$")
_OPENAI_CHAT = re.compile(r"/chat/completions$")
_OPENAI_RESPONSES = re.compile(r"/responses$")
_GEMINI = re.compile(
    r"/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$"
)


def match_endpoint(
    provider: Provider | None, method: str, path: str
) -> Endpoint | None:
    """Return the billable endpoint of a request, or None for anything else.

    ``path`` may carry a query string, which is ignored. With ``provider`` None
    the provider is guessed from the path alone (the SDK instruments requests to any URL).
    """
    if method.upper() != "POST":
        return None
    path = path.split("?", 1)[0].rstrip("/")
    candidates = [provider] if provider is not None else list(Provider)
    for candidate in candidates:
        endpoint = _match_one(candidate, path)
        if endpoint is not None:
            return endpoint
    return None


def _match_one(provider: Provider, path: str) -> Endpoint | None:
    if provider is Provider.ANTHROPIC and _ANTHROPIC.search(path):
        return Endpoint(provider, WireFormat.ANTHROPIC_MESSAGES)
    if provider is Provider.OPENAI and _OPENAI_CHAT.search(path):
        return Endpoint(provider, WireFormat.OPENAI_CHAT)
    if provider is Provider.OPENAI and _OPENAI_RESPONSES.search(path):
        return Endpoint(provider, WireFormat.OPENAI_RESPONSES)
    if provider is Provider.GEMINI:
        found = _GEMINI.search(path)
        if found is not None:
            return Endpoint(
                provider,
                WireFormat.GEMINI_GENERATE,
                path_model=found["model"],
                path_stream=found["method"] == "streamGenerateContent",
            )
    return None


def summarise_request(endpoint: Endpoint, body: bytes) -> RequestSummary:
    """Read the requested model and stream flag (blank when the body is not JSON)."""
    parsed: Any = None
    if body:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
    if not isinstance(parsed, dict):
        parsed = {}
    model = endpoint.path_model or parsed.get("model") or ""
    stream = endpoint.path_stream or parsed.get("stream") is True
    return RequestSummary(model=str(model), stream=stream)
