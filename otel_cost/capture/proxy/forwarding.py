"""Header rules for forwarding HTTP/1.1 messages through the proxy unchanged.

Only hop-by-hop headers (RFC 9110 section 7.6.1) and the framing headers that
belong to each connection are rewritten. Everything else, credentials
included, passes through byte for byte and is never logged.
"""

from __future__ import annotations

from collections.abc import Iterable

from otel_cost.capture.wire.sse import DECODABLE_CODINGS

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers the proxy drops: the upstream connection sets its own
#: Host and Content-Length, and the proxy already replied to any 100-continue.
REQUEST_OWNED = frozenset({"host", "content-length", "expect"})
#: Response headers the proxy sets itself to frame the body for its client.
RESPONSE_OWNED = frozenset({"content-length"})


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(part.strip().lower() for part in value.split(","))
    return tokens


def request_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the headers to send upstream, in the client's order."""
    dropped = HOP_BY_HOP | REQUEST_OWNED | _connection_tokens(headers)
    forwarded = []
    for name, value in headers:
        lower = name.lower()
        if lower in dropped:
            continue
        if lower == "accept-encoding":
            value = narrow_accept_encoding(value)
        forwarded.append((name, value))
    return forwarded


def response_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the upstream response headers to pass on, in upstream order."""
    dropped = HOP_BY_HOP | RESPONSE_OWNED | _connection_tokens(headers)
    return [(name, value) for name, value in headers if name.lower() not in dropped]


def narrow_accept_encoding(value: str) -> str:
    """Keep only the content codings the meter can decode (gzip, deflate, identity).

    A response in another coding (br, zstd) would pass through unread and go
    unmetered, so the proxy does not ask for one.
    """
    kept = [
        part.strip()
        for part in value.split(",")
        if part.strip().split(";", 1)[0].strip().lower() in DECODABLE_CODINGS
    ]
    return ", ".join(kept) if kept else "identity"
