"""The upstream of each provider's traffic, and the base URLs the agent gets.

Precedence per provider: the ``--upstream-*`` option, then
``OTEL_COST_UPSTREAM_*``, then a base URL the user had already set (a
corporate gateway: the proxy chains to it instead of bypassing it), then the
provider's public endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from otel_cost import config
from otel_cost.capture.context import strip_credentials
from otel_cost.capture.wire import Provider
from otel_cost.errors import ConfigError

PUBLIC_ENDPOINTS = {
    Provider.ANTHROPIC: "https://api.anthropic.com",
    # The OpenAI SDKs and Codex expect the version in the base URL.
    Provider.OPENAI: "https://api.openai.com/v1",
    Provider.GEMINI: "https://generativelanguage.googleapis.com",
}
UPSTREAM_VARIABLES = {
    Provider.ANTHROPIC: config.ENV_UPSTREAM_ANTHROPIC,
    Provider.OPENAI: config.ENV_UPSTREAM_OPENAI,
    Provider.GEMINI: config.ENV_UPSTREAM_GEMINI,
}
BASE_URL_VARIABLES = {
    Provider.ANTHROPIC: config.ENV_ANTHROPIC_BASE_URL,
    Provider.OPENAI: config.ENV_OPENAI_BASE_URL,
    Provider.GEMINI: config.ENV_GEMINI_BASE_URL,
}
#: Path prefix under which the proxy serves each provider.
ROUTE_PREFIXES = {provider: f"/{provider.value}" for provider in Provider}


def resolve_upstreams(
    options: Mapping[Provider, str | None], environ: Mapping[str, str]
) -> dict[Provider, str]:
    """Return the upstream base URL of every provider."""
    upstreams: dict[Provider, str] = {}
    for provider in Provider:
        candidates = [
            (options.get(provider), f"--upstream-{provider.value}"),
            (environ.get(UPSTREAM_VARIABLES[provider]), UPSTREAM_VARIABLES[provider]),
            (environ.get(BASE_URL_VARIABLES[provider]), BASE_URL_VARIABLES[provider]),
        ]
        chosen = next(((url, name) for url, name in candidates if url), None)
        if chosen is None:
            upstreams[provider] = PUBLIC_ENDPOINTS[provider]
        else:
            upstreams[provider] = validate_base_url(*chosen)
    return upstreams


def validate_base_url(url: str, source: str) -> str:
    """Return ``url`` without a trailing slash, or raise naming where it came from."""
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(
            f"invalid upstream URL {strip_credentials(url)!r} in {source}; "
            "expected http(s)://host[:port][/path]"
        )
    if parsed.query:
        raise ConfigError(f"upstream URL in {source} must not carry a query string")
    return str(parsed).rstrip("/")


def base_urls_for_agent(proxy_url: str) -> dict[str, str]:
    """Return the base-URL variables that point the agent at the proxy."""
    return {
        BASE_URL_VARIABLES[provider]: proxy_url + ROUTE_PREFIXES[provider]
        for provider in Provider
    }


def describe(url: str) -> str:
    """Return scheme, host and port of a URL, for messages (never paths or queries)."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"
