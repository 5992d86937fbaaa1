"""Shared pieces of the two HTTP servers: bearer-token check, bodies, replies."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import socket
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

logger = logging.getLogger(__name__)

#: Methods that get 405 when a path does not support them. Other method
#: names keep http.server's 501, which RFC 9110 gives to unrecognised methods.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)


class BodyError(Exception):
    """A request body that cannot be read, with the HTTP status of the reply."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    """Return True when ``host`` names only the loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BodyBudget:
    """A cap on the bytes of request bodies being handled at once.

    The threading server starts a thread per connection, so without a cap
    many large requests at once could exhaust memory.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.in_use = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def reserve(self, size: int) -> Iterator[None]:
        """Hold ``size`` bytes while the block runs; raise `BodyError` 429 when full."""
        with self._lock:
            if self.in_use and self.in_use + size > self.max_bytes:
                raise BodyError(
                    429,
                    f"{self.in_use} bytes of requests are being handled, at the limit of "
                    f"{self.max_bytes}; retry later",
                )
            self.in_use += size
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= size


class BearerAuth:
    """Checks ``Authorization: Bearer <token>`` when a token is configured."""

    def __init__(self, token: str | None) -> None:
        self.token = token or None

    def allows(self, header: str | None) -> bool:
        """Return True when a request with this Authorization header may proceed."""
        if self.token is None:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(
            header[len("Bearer ") :].strip().encode(), self.token.encode()
        )


class Server(ThreadingHTTPServer):
    """A threading HTTP server that carries the service state for its handlers."""

    daemon_threads = True
    block_on_close = False
    # The default backlog of 5 resets connections under a burst of clients.
    request_queue_size = 128

    def __init__(
        self, host: str, port: int, handler: type[BaseHTTPRequestHandler], state: Any
    ) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.state = state
        super().__init__((host, port), handler)


class Handler(BaseHTTPRequestHandler):
    """Base handler: quiet access log, size-limited bodies, JSON replies."""

    protocol_version = "HTTP/1.1"
    #: Seconds a connection may stay silent, so stalled clients free their thread.
    timeout = 60
    server_version = "otel-cost"
    sys_version = ""

    @property
    def state(self) -> Any:
        """The service state shared by all handlers."""
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Send the access log to DEBUG, never to stderr."""
        logger.debug("%s %s", self.address_string(), format % args)

    def allowed_methods(self, path: str) -> str | None:
        """Return the ``Allow`` header value for ``path``, None when nothing is there."""
        return None

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """Reply 405 to a known method that has no handler, else as http.server does."""
        command = getattr(self, "command", None)
        if (
            code == HTTPStatus.NOT_IMPLEMENTED
            and command in KNOWN_METHODS
            and not hasattr(self, f"do_{command}")
        ):
            self.reject_method()
            return
        super().send_error(code, message, explain)

    def reject_method(self) -> None:
        """Reply 405 with ``Allow`` to a method the path does not support.

        A path with no endpoint at all gets 404 instead.
        """
        path = urlsplit(self.path).path
        allowed = self.allowed_methods(path)
        if allowed is None:
            self.send_json(404, {"error": f"no endpoint at {path!r}"})
            return
        message = f"method {self.command} is not allowed at {path!r}; use {allowed}"
        self.send_method_not_allowed(message, allowed)

    def send_method_not_allowed(self, message: str, allowed: str) -> None:
        """Send the 405 reply with its ``Allow`` header."""
        self.send_json(405, {"error": message}, {"Allow": allowed})

    def body_length(self, limit: int) -> int:
        """Return the declared body length, rejecting no length or one over ``limit``."""
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise BodyError(
                411, "chunked request bodies are not supported; send Content-Length"
            )
        if length_text is None:
            raise BodyError(411, "Content-Length is required")
        if not length_text.isdigit():
            raise BodyError(400, f"invalid Content-Length {length_text!r}")
        length = int(length_text)
        if length > limit:
            self.close_connection = True
            raise BodyError(
                413, f"request body of {length} bytes is over the limit of {limit}"
            )
        return length

    def read_body(self, length: int) -> bytes:
        """Read a request body of ``length`` bytes (from `body_length`)."""
        body = self.rfile.read(length)
        self._body_read_for = self._request_line()
        return body

    def _request_line(self) -> object:
        # Each request gets a new bytes object, so identity separates requests.
        return getattr(self, "raw_requestline", None)

    def _unread_body(self) -> bool:
        if getattr(self, "_body_read_for", None) is self._request_line():
            return False
        length = self.headers.get("Content-Length", "0")
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        return chunked or not length.isdigit() or int(length) > 0

    def authorized(self, auth: BearerAuth) -> bool:
        """Return True when the request carries the token, else reply 401."""
        if auth.allows(self.headers.get("Authorization")):
            return True
        self.send_bytes(
            401,
            b'{"error":"a valid bearer token is required"}',
            "application/json",
            {"WWW-Authenticate": "Bearer"},
        )
        return False

    def send_json(
        self, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        """Reply with a JSON document."""
        self.send_bytes(status, orjson.dumps(payload), "application/json", headers)

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Reply with a body of the given type."""
        if self._unread_body():
            # Bytes left unread would be parsed as the next request.
            self.close_connection = True
        self.send_response(status)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
