"""Measure the proxy's added latency and its streaming overhead on loopback.

Run ``python -m otel_cost.capture.proxy.bench [--requests N]``. A local
upstream returns a small Anthropic JSON response and an SSE stream. The same
requests go once straight to it and once through the proxy (metering and
pricing included, no store writes). The script prints p50 and p99 of both and
their difference.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

from otel_cost.capture.context import CaptureContext
from otel_cost.capture.proxy.recorder import Recorder
from otel_cost.capture.proxy.server import NO_DELAY, ProxyServer
from otel_cost.capture.wire import Provider
from otel_cost.pricing.registry import load_registry

MODEL = "claude-sonnet-4-5-20250929"
USAGE = {"input_tokens": 1200, "cache_read_input_tokens": 30000, "output_tokens": 400}


def _json_body() -> bytes:
    message = {"id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL,
               "content": [{"type": "text", "text": "x" * 2000}], "usage": USAGE}  # fmt: skip
    return orjson.dumps(message)


def _sse_events(count: int) -> list[bytes]:
    start = {"type": "message_start", "message": {"id": "msg_bench", "model": MODEL,
             "usage": {**USAGE, "output_tokens": 1}}}  # fmt: skip
    delta = {"type": "content_block_delta", "index": 0,
             "delta": {"type": "text_delta", "text": "token "}}  # fmt: skip
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
           "usage": {"output_tokens": count}}  # fmt: skip
    events = [b"event: message_start\ndata: " + orjson.dumps(start) + b"\n\n"]
    events += [
        b"event: content_block_delta\ndata: " + orjson.dumps(delta) + b"\n\n"
    ] * count
    events.append(b"event: message_delta\ndata: " + orjson.dumps(end) + b"\n\n")
    events.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    return events


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients closing kept-alive connections at exit


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    json_body = _json_body()
    sse_events: list[bytes] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if b'"stream":true' not in self.headers.get("X-Bench", "").encode():
            self.send_response_only(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.json_body)))
            self.end_headers()
            self.wfile.write(self.json_body)
            return
        self.send_response_only(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in self.sse_events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")


def _timed(call: Callable[[], None], repeat: int) -> list[float]:
    call()  # warm the connection pool
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _first_byte_ms(client: httpx.Client, url: str, repeat: int) -> list[float]:
    samples = []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        with client.stream(
            "POST", url, json={"model": MODEL, "stream": True},
            headers={"X-Bench": '"stream":true'},
        ) as response:  # fmt: skip
            pieces = response.iter_raw()
            next(pieces)
            elapsed = (time.perf_counter() - started) * 1000
            for _ in pieces:
                pass
        if attempt:  # the first one warms the connection pool
            samples.append(elapsed)
    return samples


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _row(name: str, direct: list[float], proxied: list[float]) -> str:
    p50 = (_percentile(direct, 0.5), _percentile(proxied, 0.5))
    p99 = (_percentile(direct, 0.99), _percentile(proxied, 0.99))
    return (
        f"{name:<26} direct p50 {p50[0]:7.2f} ms  p99 {p99[0]:7.2f} ms | "
        f"proxy p50 {p50[1]:7.2f} ms  p99 {p99[1]:7.2f} ms | "
        f"added p50 {p50[1] - p50[0]:+6.2f} ms  p99 {p99[1] - p99[0]:+6.2f} ms"
    )


def run(requests: int, stream_events: int) -> list[str]:
    """Run the benchmark and return the report lines."""
    _Upstream.sse_events = _sse_events(stream_events)
    upstream = _QuietServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    upstream_url = f"http://127.0.0.1:{upstream.server_address[1]}"
    recorder = Recorder(CaptureContext("bench", "bench"), load_registry(), None)
    proxy = ProxyServer({provider: upstream_url for provider in Provider}, recorder)
    proxy.start()
    stream_bytes = sum(len(event) for event in _Upstream.sse_events)
    lines = []
    try:
        transport = httpx.HTTPTransport(socket_options=[NO_DELAY])
        with httpx.Client(transport=transport) as client:
            for name, body, headers in (
                ("JSON response", {"model": MODEL}, {}),
                (f"SSE, {stream_events} events", {"model": MODEL, "stream": True},
                 {"X-Bench": '"stream":true'}),
            ):  # fmt: skip

                def direct(body: Any = body, headers: Any = headers) -> None:
                    client.post(
                        upstream_url + "/v1/messages", json=body, headers=headers
                    )

                def proxied(body: Any = body, headers: Any = headers) -> None:
                    client.post(proxy.url + "/anthropic/v1/messages", json=body,
                                headers=headers)  # fmt: skip

                lines.append(
                    _row(name, _timed(direct, requests), _timed(proxied, requests))
                )
            direct_first = _first_byte_ms(
                client, upstream_url + "/v1/messages", requests
            )
            proxy_first = _first_byte_ms(
                client, proxy.url + "/anthropic/v1/messages", requests
            )
            lines.append(_row("SSE, time to first byte", direct_first, proxy_first))
    finally:
        proxy.stop()
        upstream.shutdown()
    tally = recorder.tally
    lines.append(
        f"stream body {stream_bytes} bytes; requests metered {tally.requests}, "
        f"unpriced {tally.unpriced_requests}"
    )
    return lines


def main() -> None:
    """Parse arguments and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per case")
    parser.add_argument(
        "--stream-events", type=int, default=400, help="SSE events per stream"
    )
    args = parser.parse_args()
    for line in run(args.requests, args.stream_events):
        print(line)


if __name__ == "__main__":
    main()
