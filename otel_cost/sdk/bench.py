"""Measure what the SDK adds to an httpx LLM call on loopback.

Run ``python -m otel_cost.sdk.bench [--requests N]``. The same Chat
Completions request goes to a local upstream with the SDK off and on (spans
to an in-memory exporter), and the script prints p50 and p99 of both.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_cost import sdk

BODY = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x" * 2000},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 400},
    }
)  # fmt: skip


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response_only(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


def _samples(url: str, requests: int) -> list[float]:
    transport = httpx.HTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    samples = []
    with httpx.Client(transport=transport) as client:
        for attempt in range(requests + 1):
            started = time.perf_counter()
            client.post(url, json={"model": "gpt-4o-mini", "messages": []})
            if attempt:  # the first one opens the connection
                samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)


def run(requests: int) -> list[str]:
    """Run the benchmark and return the report lines."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{upstream.server_address[1]}/v1/chat/completions"
    try:
        plain = _samples(url, requests)
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        sdk.configure(tracer_provider=provider)
        try:
            traced = _samples(url, requests)
        finally:
            sdk.shutdown()
    finally:
        upstream.shutdown()
    spans = len(exporter.get_finished_spans())
    lines = []
    for name, samples in (("SDK off", plain), ("SDK on", traced)):
        p50 = samples[len(samples) // 2]
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        lines.append(f"{name:<8} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
    lines.append(f"spans recorded: {spans} of {requests + 1} requests")
    return lines


def main() -> None:
    """Parse arguments and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per case")
    for line in run(parser.parse_args().requests):
        print(line)


if __name__ == "__main__":
    main()
