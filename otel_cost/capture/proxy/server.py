"""The local reverse proxy in front of the LLM APIs.

One port serves every provider under a path prefix (``/anthropic``,
``/openai``, ``/gemini``). Requests go upstream unchanged apart from
hop-by-hop headers, and responses come back unchanged. A streamed body is
written to the client piece by piece as upstream sends it, while a meter reads
usage from the same bytes. Billable requests go to the `Recorder` once their
response ends, whether it completed, failed or was cut off. A recording
failure is logged and never reaches the client.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

from otel_cost.capture.proxy import forwarding
from otel_cost.capture.proxy.gate import GateAnswer, RequestGate
from otel_cost.capture.proxy.recorder import Exchange, Recorder
from otel_cost.capture.proxy.upstreams import ROUTE_PREFIXES
from otel_cost.capture.wire import (
    Endpoint,
    Provider,
    ResponseMeter,
    match_endpoint,
    summarise_request,
)

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
CONNECT_TIMEOUT_S = 30.0
#: Reasoning models can think for minutes before their first byte.
READ_TIMEOUT_S = 900.0
REQUEST_ID_HEADERS = ("request-id", "x-request-id")
NO_BODY_STATUSES = frozenset({204, 304})
NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
#: How long `ProxyServer.stop` waits for requests in flight, such as a stream
#: whose agent exited, to end and be recorded.
DRAIN_TIMEOUT_S = 5.0


class ProxyServer:
    """A threaded reverse proxy bound to a loopback port."""

    def __init__(
        self,
        upstreams: dict[Provider, str],
        recorder: Recorder | None = None,
        host: str = LOOPBACK,
        port: int = 0,
        gate: RequestGate | None = None,
    ) -> None:
        self.upstreams = dict(upstreams)
        self.recorder = recorder
        self.gate = gate
        install_log_redaction()
        # Nagle's algorithm would hold a small request body or stream event
        # until the peer's delayed ACK, about 40 ms on Linux.
        transport = httpx.HTTPTransport(socket_options=[NO_DELAY])
        self.client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            follow_redirects=False,
        )
        self._httpd = _Server((host, port), _ProxyHandler)
        self._httpd.proxy = self
        bound_port = self._httpd.server_address[1]
        self.url = f"http://{host}:{bound_port}"
        self._thread: threading.Thread | None = None
        self._active = 0
        self._idle = threading.Condition()

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="otel-cost-proxy",
            daemon=True,
        )
        self._thread.start()
        logger.debug("proxy listening on %s", self.url)

    def stop(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Stop accepting requests, let requests in flight end, close connections.

        Requests still running after ``drain_timeout_s`` are cut off unrecorded.
        """
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._drain(drain_timeout_s)
        self._httpd.server_close()
        self.client.close()

    def _drain(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._active and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
            if self._active:
                logger.warning(
                    "%d proxied requests still running at exit", self._active
                )

    def track(self, delta: int) -> None:
        """Count a request in (+1) or out (-1) of flight."""
        with self._idle:
            self._active += delta
            if not self._active:
                self._idle.notify_all()

    def __enter__(self) -> ProxyServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def route(self, path: str) -> tuple[Provider, str] | None:
        """Return the provider and upstream URL of a request path, or None."""
        for provider, prefix in ROUTE_PREFIXES.items():
            if (
                path == prefix
                or path.startswith(prefix + "/")
                or path.startswith(prefix + "?")
            ):
                return provider, self.upstreams[provider] + path[len(prefix) :]
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    proxy: ProxyServer


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        self._forward()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        # The standard access log prints the request line, whose query string
        # can carry an API key (Gemini's ?key=); nothing of it is logged.
        pass

    def _forward(self) -> None:
        proxy = self.server.proxy
        path_only = self.path.split("?", 1)[0]
        routed = proxy.route(self.path)
        if routed is None:
            self._reply_error(404, "not_found", f"no provider route for {path_only!r}")
            return
        provider, upstream_url = routed
        body = self._read_body()
        if body is None:
            return
        endpoint = match_endpoint(
            provider, self.command, upstream_url.split("://", 1)[1]
        )
        session = _Session(self, proxy, endpoint, body, upstream_url)
        proxy.track(+1)
        try:
            session.run()
        finally:
            proxy.track(-1)
        logger.debug(
            "%s %s -> %d in %d ms", self.command, path_only, session.exchange_status,
            session.latency_ms,
        )  # fmt: skip

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            self._reply_error(400, "invalid_request", "invalid Content-Length header")
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = self.rfile.readline(65537)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Skip trailers up to the blank line that ends the message.
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _reply_error(self, status: int, kind: str, message: str) -> None:
        payload = {"error": {"type": kind, "message": f"otel-cost proxy: {message}"}}
        data = orjson.dumps(payload)
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class _Session:
    """One request's round trip, with the bookkeeping for its cost event."""

    def __init__(
        self,
        handler: _ProxyHandler,
        proxy: ProxyServer,
        endpoint: Endpoint | None,
        body: bytes,
        upstream_url: str,
    ) -> None:
        self.handler = handler
        self.proxy = proxy
        self.endpoint = endpoint
        self.body = body
        self.upstream_url = upstream_url
        self.started_ns = time.monotonic_ns()
        self.started_at = datetime.now(UTC)
        self.exchange_status = 0
        self.latency_ms = 0
        self.first_byte_ns: int | None = None
        self.transport_error = ""
        self.request_id = ""
        self.meter: ResponseMeter | None = None
        self.gate_answer: GateAnswer | None = None

    def run(self) -> None:
        """Forward the request, relay the response and record the exchange."""
        if self.endpoint is not None and self.proxy.gate is not None:
            self.gate_answer = self._ask_gate(self.proxy.gate, self.endpoint)
            if self.gate_answer is not None and self.gate_answer.verdict == "deny":
                self._refuse(self.gate_answer)
                return
        request = httpx.Request(
            self.handler.command,
            self.upstream_url,
            headers=forwarding.request_headers(list(self.handler.headers.items())),
            content=self.body,
        )
        try:
            response = self.proxy.client.send(request, stream=True)
        except httpx.TimeoutException:
            self._fail(504, "upstream_timeout")
            return
        except httpx.HTTPError:
            self._fail(502, "upstream_unreachable")
            return
        try:
            self._relay(response)
        finally:
            response.close()
            self._finish()

    def _ask_gate(self, gate: RequestGate, endpoint: Endpoint) -> GateAnswer | None:
        model = summarise_request(endpoint, self.body).model
        try:
            return gate.check(endpoint.provider, model, self.body)
        except Exception:  # a broken gate lets the request through
            logger.exception("budget gate raised; request allowed")
            return None

    def _refuse(self, answer: GateAnswer) -> None:
        handler = self.handler
        self.exchange_status = answer.status
        handler.send_response_only(answer.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        handler.wfile.write(answer.body)
        self._finish()

    def _fail(self, status: int, kind: str) -> None:
        self.transport_error = kind
        self.exchange_status = status
        host = httpx.URL(self.upstream_url).host
        self.handler.close_connection = True
        self.handler._reply_error(status, kind, f"upstream {host} failed ({kind})")
        self._finish()

    def _relay(self, response: httpx.Response) -> None:
        handler = self.handler
        self.exchange_status = response.status_code
        self.request_id = next(
            (
                response.headers[name]
                for name in REQUEST_ID_HEADERS
                if name in response.headers
            ),
            "",
        )
        if self.endpoint is not None:
            self.meter = ResponseMeter(
                self.endpoint.wire_format,
                response.headers.get("content-type", ""),
                response.headers.get("content-encoding", ""),
            )
        has_body = (
            handler.command != "HEAD" and response.status_code not in NO_BODY_STATUSES
        )

        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in response.headers.raw
        ]
        length = response.headers.get("content-length")
        chunked = has_body and length is None and handler.request_version == "HTTP/1.1"

        handler.send_response_only(response.status_code, response.reason_phrase or None)
        for name, value in forwarding.response_headers(headers):
            handler.send_header(name, value)
        if length is not None:
            handler.send_header("Content-Length", length)
        elif chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        elif has_body:
            handler.close_connection = True
        handler.end_headers()

        if has_body:
            self._relay_body(response, chunked)

    def _relay_body(self, response: httpx.Response, chunked: bool) -> None:
        write = self.handler.wfile.write
        try:
            for piece in response.iter_raw():
                if not piece:
                    continue
                if self.first_byte_ns is None:
                    self.first_byte_ns = time.monotonic_ns()
                try:
                    write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                except OSError:
                    self.transport_error = "client_disconnected"
                    self.handler.close_connection = True
                    return
                if self.meter is not None:
                    self.meter.feed(piece)
        except httpx.HTTPError:
            # Upstream cut the body short. The client's copy is cut short too,
            # so the agent gets the same failure as without the proxy.
            self.transport_error = "stream_interrupted"
            self.handler.close_connection = True
            return
        if chunked:
            try:
                write(b"0\r\n\r\n")
            except OSError:
                self.transport_error = "client_disconnected"
                self.handler.close_connection = True

    def _finish(self) -> None:
        self.latency_ms = (time.monotonic_ns() - self.started_ns) // 1_000_000
        recorder = self.proxy.recorder
        if self.endpoint is None or recorder is None:
            return
        try:
            self._record(recorder, self.endpoint)
        except Exception:  # recording must never break the agent's request
            logger.exception("cannot record a %s request", self.endpoint.provider.value)

    def _record(self, recorder: Recorder, endpoint: Endpoint) -> None:
        meter = self.meter or ResponseMeter(endpoint.wire_format, "", "")
        reading = meter.finish()
        ttfb = None
        if self.first_byte_ns is not None:
            ttfb = (self.first_byte_ns - self.started_ns) // 1_000_000
        exchange = Exchange(
            endpoint=endpoint,
            request=summarise_request(endpoint, self.body),
            started_at=self.started_at,
            upstream_host=httpx.URL(self.upstream_url).host,
            status=self.exchange_status,
            latency_ms=self.latency_ms,
            time_to_first_byte_ms=ttfb,
            request_id=self.request_id,
            transport_error=self.transport_error,
            gate_verdict=self.gate_answer.verdict if self.gate_answer else "",
        )
        recorder.record(exchange, reading)


class QueryRedactingFilter(logging.Filter):
    """Removes query strings from URLs that httpx logs (``?key=`` can carry a key)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite URL arguments of the record; never drop it."""
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_url(arg) for arg in record.args)
        return True


def _redact_url(value: object) -> object:
    if isinstance(value, httpx.URL) and value.query:
        return str(value.copy_with(query=None)) + "?<redacted>"
    return value


def install_log_redaction() -> None:
    """Attach `QueryRedactingFilter` to the httpx logger once."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, QueryRedactingFilter) for f in httpx_logger.filters):
        httpx_logger.addFilter(QueryRedactingFilter())
