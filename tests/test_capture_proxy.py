"""The reverse proxy on its own: streaming, forwarding, failures and upstream choice."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fakes import wire
from fakes.server import FakeProvider, Scripted

from otel_cost.capture.context import CaptureContext, parse_tags, strip_credentials
from otel_cost.capture.proxy.forwarding import narrow_accept_encoding, request_headers
from otel_cost.capture.proxy.gate import GateAnswer
from otel_cost.capture.proxy.instrument import (
    agent_environment,
    exit_status,
    harness_for,
)
from otel_cost.capture.proxy.recorder import Recorder, event_id
from otel_cost.capture.proxy.server import ProxyServer
from otel_cost.capture.proxy.upstreams import PUBLIC_ENDPOINTS, resolve_upstreams
from otel_cost.capture.sink import Emitter, ServiceSink, StoreSink, open_sink
from otel_cost.capture.wire import Provider
from otel_cost.errors import ConfigError
from otel_cost.events import CostEvent, TokenCategory, Usage
from otel_cost.pricing.registry import PricingRegistry
from otel_cost.serve.canonical import parse_event


class ListSink:
    """Keeps written events in memory."""

    target = "memory"

    def __init__(self) -> None:
        self.events: list[CostEvent] = []

    def write(self, events: Sequence[CostEvent]) -> None:
        self.events.extend(events)

    def close(self) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def captured(registry: PricingRegistry) -> Iterator[tuple[Recorder, ListSink, Emitter]]:
    sink = ListSink()
    emitter = Emitter(sink)
    recorder = Recorder(CaptureContext("s-proxy", "test-agent"), registry, emitter)
    yield recorder, sink, emitter
    emitter.close()


def _proxy(fake: FakeProvider, recorder: Recorder) -> ProxyServer:
    upstreams = {provider: fake.url for provider in Provider}
    return ProxyServer(upstreams, recorder)


def _events(emitter: Emitter, sink: ListSink) -> list[CostEvent]:
    emitter.close()
    return sink.events


def test_stream_first_chunk_unbuffered(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    gate = threading.Event()
    answer = wire.anthropic_sse("msg_gate", "claude-sonnet-4-5", {"input_tokens": 4}, 9)
    answer.gate = gate
    fake.add("/v1/messages", answer)
    with _proxy(fake, recorder) as proxy, httpx.Client(timeout=5) as client:
        with client.stream(
            "POST",
            proxy.url + "/anthropic/v1/messages",
            json={"model": "claude-sonnet-4-5", "stream": True},
        ) as response:
            pieces = response.iter_raw()
            first = next(pieces)
            # Upstream is still blocked before its second piece.
            assert not gate.is_set()
            assert not fake.finished.is_set()
            assert first.startswith(b"event: message_start")
            gate.set()
            rest = b"".join(pieces)
    assert first + rest == answer.body
    events = _events(emitter, sink)
    assert len(events) == 1
    # 4 input x 3e-6 + 9 output x 1.5e-5
    assert events[0].cost_usd == Decimal("0.000012") + Decimal("0.000135")


def test_gzip_body_passes_and_meters(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    plain = wire.openai_chat_json("c-gz", "gpt-4o-mini", {"prompt_tokens": 1000,
                                  "completion_tokens": 100})  # fmt: skip
    compressed = gzip.compress(plain.body)
    fake.add("/chat/completions", Scripted(
        headers=[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        pieces=[compressed]))  # fmt: skip
    with _proxy(fake, recorder) as proxy, httpx.Client() as client:
        request = client.build_request(
            "POST",
            proxy.url + "/openai/chat/completions",
            json={"model": "gpt-4o-mini"},
            headers={"Accept-Encoding": "br, gzip;q=0.9"},
        )
        response = client.send(request, stream=True)
        raw = b"".join(response.iter_raw())
        response.close()
    assert raw == compressed
    assert dict(fake.received[0].headers)["Accept-Encoding"] == "gzip;q=0.9"
    events = _events(emitter, sink)
    # 1000 x 1.5e-7 + 100 x 6e-7
    assert events[0].cost_usd == Decimal("0.00015") + Decimal("0.00006")


def test_stream_without_usage_unpriced(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    answer = wire.openai_chat_sse("c-nousage", "gpt-4o-mini", {})
    answer.pieces = [piece for piece in answer.pieces if b'"choices":[]' not in piece]
    fake.add("/chat/completions", answer)
    with _proxy(fake, recorder) as proxy:
        httpx.post(proxy.url + "/openai/chat/completions",
                   json={"model": "gpt-4o-mini", "stream": True})  # fmt: skip
    event = _events(emitter, sink)[0]
    assert event.outcome == "ok"
    assert event.cost_usd is None
    assert event.cost_status.value == "unpriced"
    assert event.attributes["usage_problem"] == "response carried no usage"


def test_upstream_unreachable_recorded(captured: Any) -> None:
    recorder, sink, emitter = captured
    upstreams = {provider: "http://127.0.0.1:9" for provider in Provider}
    with ProxyServer(upstreams, recorder) as proxy:
        response = httpx.post(proxy.url + "/openai/responses", json={"model": "gpt-5"})
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_unreachable"
    event = _events(emitter, sink)[0]
    assert event.outcome == "error"
    assert event.error_type == "upstream_unreachable"
    assert event.model_requested == "gpt-5"


def test_other_paths_pass_unrecorded(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    fake.add("/v1/models", Scripted(headers=[("Content-Type", "application/json")],
                                    pieces=[b'{"data":[]}']))  # fmt: skip
    with _proxy(fake, recorder) as proxy:
        listed = httpx.get(proxy.url + "/anthropic/v1/models")
        unknown = httpx.get(proxy.url + "/elsewhere/v1/models")
    assert listed.status_code == 200
    assert listed.content == b'{"data":[]}'
    assert unknown.status_code == 404
    assert _events(emitter, sink) == []


def test_error_status_forwarded(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    fake.add("/v1/messages", wire.anthropic_error(529, "overloaded_error"))
    with _proxy(fake, recorder) as proxy:
        response = httpx.post(
            proxy.url + "/anthropic/v1/messages", json={"model": "claude-x"}
        )
    assert response.status_code == 529
    assert response.headers["request-id"] == "req_err"
    event = _events(emitter, sink)[0]
    assert event.error_type == "overloaded_error"
    assert event.attributes["request_id"] == "req_err"
    assert event.cost_usd == Decimal(0)


def test_upstream_precedence() -> None:
    environ = {
        "OTEL_COST_UPSTREAM_OPENAI": "https://env.example/v1",
        "OPENAI_BASE_URL": "https://gateway.example/openai/v1",
        "ANTHROPIC_BASE_URL": "https://gateway.example/anthropic/",
    }
    chosen = resolve_upstreams({Provider.GEMINI: "http://127.0.0.1:5000"}, environ)
    assert chosen[Provider.OPENAI] == "https://env.example/v1"
    assert chosen[Provider.ANTHROPIC] == "https://gateway.example/anthropic"
    assert chosen[Provider.GEMINI] == "http://127.0.0.1:5000"
    assert resolve_upstreams({}, {}) == PUBLIC_ENDPOINTS


def test_upstream_rejects_bad_url() -> None:
    with pytest.raises(
        ConfigError, match="invalid upstream URL 'ftp://x' in --upstream-openai"
    ):
        resolve_upstreams({Provider.OPENAI: "ftp://x"}, {})


def test_claude_telemetry_only_with_service() -> None:
    context = CaptureContext(
        "s1", "claude-code", project="demo app", task_type="bugfix"
    )
    service = {
        "api_url": "http://127.0.0.1:8787",
        "otlp_http_url": "http://127.0.0.1:4318",
    }
    env = agent_environment({}, "http://127.0.0.1:7000", context, service)
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:7000/anthropic"
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:7000/openai"
    assert env["GOOGLE_GEMINI_BASE_URL"] == "http://127.0.0.1:7000/gemini"
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    resource = env["OTEL_RESOURCE_ATTRIBUTES"].split(",")
    assert "otel_cost.project=demo%20app" in resource
    assert "otel_cost.capture=proxy" in resource
    alone = agent_environment({}, "http://127.0.0.1:7000", context, None)
    assert "CLAUDE_CODE_ENABLE_TELEMETRY" not in alone
    own = agent_environment(
        {"CLAUDE_CODE_ENABLE_TELEMETRY": "1"}, "http://x", context, service
    )
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in own


def test_helpers_for_the_wrapper() -> None:
    assert harness_for(["/usr/local/bin/claude", "-p"]) == "claude-code"
    assert harness_for(["aider"]) == "aider"
    assert exit_status(-9) == 137
    assert exit_status(4) == 4
    assert parse_tags(["team=core", "ticket = X-1"]) == {
        "team": "core",
        "ticket": "X-1",
    }
    with pytest.raises(ConfigError, match="invalid tag 'oops'"):
        parse_tags(["oops"])
    assert strip_credentials("https://x-token:ghp_abc@github.com/o/r.git") == (
        "https://github.com/o/r.git"
    )


def test_hop_by_hop_headers_dropped() -> None:
    headers = [("Host", "127.0.0.1"), ("Connection", "keep-alive, X-Trace"),
               ("X-Trace", "1"), ("Content-Length", "3"), ("x-api-key", "k"),
               ("Accept-Encoding", "zstd, br")]  # fmt: skip
    assert request_headers(headers) == [
        ("x-api-key", "k"),
        ("Accept-Encoding", "identity"),
    ]
    assert narrow_accept_encoding("gzip, deflate, br, zstd") == "gzip, deflate"


def test_event_ids_match_other_sources() -> None:
    claude = CaptureContext("s", "claude-code")
    assert event_id(claude, Provider.ANTHROPIC, "msg_1", "req_9") == "claude-code:msg_1"
    with_telemetry = CaptureContext("s", "claude-code", native_telemetry=True)
    assert event_id(with_telemetry, Provider.ANTHROPIC, "msg_1", "req_9") == (
        "claude-code:req:req_9"
    )
    other = CaptureContext("s", "aider")
    assert event_id(other, Provider.OPENAI, "chatcmpl-1") == "proxy:openai:chatcmpl-1"
    assert event_id(other, Provider.OPENAI, "").startswith("proxy:")


def test_service_sink_posts_canonical_events(registry: PricingRegistry) -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "auth": self.headers.get("Authorization"),
                             "body": json.loads(body)})  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sink = ServiceSink(f"http://127.0.0.1:{server.server_address[1]}", token="t0k")
        event = CostEvent(
            event_id="proxy:openai:c1", ts=datetime(2026, 8, 1, tzinfo=UTC),
            harness="aider", source="proxy", model="gpt-4o-mini",
            usage=Usage({TokenCategory.INPUT: 10, TokenCategory.OUTPUT: 2}),
            attributes={"stream": "true"},
        )  # fmt: skip
        sink.write([event])
        sink.close()
    finally:
        server.shutdown()
        server.server_close()
    assert received[0]["path"] == "/api/v1/events"
    assert received[0]["auth"] == "Bearer t0k"
    posted = received[0]["body"]["events"][0]
    assert posted["usage"] == {"input": 10, "output": 2}
    # The service's own parser accepts what the sink sends.
    parsed = parse_event(posted)
    assert parsed.event_id == "proxy:openai:c1"
    assert parsed.usage == event.usage
    assert parsed.source == "proxy"


def test_open_sink_without_service() -> None:
    sink = open_sink()
    assert isinstance(sink, StoreSink)
    sink.close()


class ModelGate:
    """Denies one model, warns about the rest."""

    def __init__(self) -> None:
        self.asked: list[tuple[Provider, str]] = []

    def check(self, provider: Provider, model: str, body: bytes) -> GateAnswer | None:
        self.asked.append((provider, model))
        if model == "claude-opus-4-1":
            return GateAnswer(
                "deny",
                "over budget",
                400,
                b'{"type":"error","error":{"type":"invalid_request_error"}}',
            )
        return GateAnswer("warn", "80% of the envelope is spent")


def test_gate_denies_before_upstream(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    fake.add(
        "/v1/messages",
        wire.anthropic_json(
            "msg_ok", "claude-haiku-4-5", {"input_tokens": 10, "output_tokens": 1}
        ),
    )
    gate = ModelGate()
    upstreams = {provider: fake.url for provider in Provider}
    with ProxyServer(upstreams, recorder, gate=gate) as proxy:
        denied = httpx.post(
            proxy.url + "/anthropic/v1/messages", json={"model": "claude-opus-4-1"}
        )
        allowed = httpx.post(
            proxy.url + "/anthropic/v1/messages", json={"model": "claude-haiku-4-5"}
        )
        httpx.get(proxy.url + "/anthropic/v1/models")
    assert denied.status_code == 400
    assert denied.json()["error"]["type"] == "invalid_request_error"
    assert allowed.status_code == 200
    assert gate.asked == [
        (Provider.ANTHROPIC, "claude-opus-4-1"),
        (Provider.ANTHROPIC, "claude-haiku-4-5"),
    ]
    assert [
        json.loads(request.body)["model"]
        for request in fake.received
        if request.method == "POST"
    ] == ["claude-haiku-4-5"]
    events = {event.model_requested: event for event in _events(emitter, sink)}
    refused = events["claude-opus-4-1"]
    assert refused.outcome == "denied"
    assert refused.error_type == "budget_denied"
    assert refused.cost_usd == Decimal(0)
    assert refused.attributes["budget_verdict"] == "deny"
    assert events["claude-haiku-4-5"].attributes["budget_verdict"] == "warn"
    # 10 x 1e-6 + 1 x 5e-6
    assert events["claude-haiku-4-5"].cost_usd == Decimal("0.000015")


def test_service_sink_falls_back_to_store(store: Any) -> None:
    sink = ServiceSink("http://127.0.0.1:9")
    event = CostEvent(
        event_id="proxy:openai:fallback", ts=datetime(2026, 8, 1, tzinfo=UTC),
        harness="aider", source="proxy", model="gpt-4o-mini",
        usage=Usage({TokenCategory.INPUT: 10}),
    )  # fmt: skip
    sink.write([event])
    assert sink.target == store.dsn
    sink.close()
    rows = store.query("SELECT event_id FROM cost_events FINAL")
    assert rows == [("proxy:openai:fallback",)]


def _raw_exchange(url: str, request: bytes, body: bytes, wait_continue: bool) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        if wait_continue:
            assert connection.recv(64).startswith(b"HTTP/1.1 100 Continue")
        connection.sendall(body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_http10_client_gets_plain_stream(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    answer = fake.add(
        "/v1/messages",
        wire.anthropic_sse("msg_10", "claude-haiku-4-5", {"input_tokens": 2}, 3),
    )
    body = b'{"model":"claude-haiku-4-5","stream":true}'
    request = (b"POST /anthropic/v1/messages HTTP/1.0\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))  # fmt: skip
    with _proxy(fake, recorder) as proxy:
        received = _raw_exchange(proxy.url, request, body, wait_continue=False)
    head, _, payload = received.partition(b"\r\n\r\n")
    # The status line names the server's own version, as RFC 9110 allows.
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Transfer-Encoding" not in head
    assert payload == answer.body
    assert _events(emitter, sink)[0].usage.total_tokens == 5


def test_expect_continue_is_answered(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    fake.add(
        "/v1/chat/completions",
        wire.openai_chat_json(
            "c-100", "gpt-4o-mini", {"prompt_tokens": 7, "completion_tokens": 1}
        ),
    )
    body = b'{"model":"gpt-4o-mini"}'
    request = (b"POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
               b"Expect: 100-continue\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))  # fmt: skip
    with _proxy(fake, recorder) as proxy:
        received = _raw_exchange(proxy.url, request, body, wait_continue=True)
    assert b"HTTP/1.1 200 OK" in received
    assert "expect" not in {name.lower() for name, _ in fake.received[0].headers}
    assert _events(emitter, sink)[0].usage.total_tokens == 8


def test_client_disconnect_recorded(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    gate = threading.Event()
    answer = wire.anthropic_sse("msg_gone", "claude-haiku-4-5", {"input_tokens": 4}, 90)
    answer.gate = gate
    answer.delay_s = 0.02
    fake.add("/v1/messages", answer)
    body = b'{"model":"claude-haiku-4-5","stream":true}'
    request = (b"POST /anthropic/v1/messages HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))  # fmt: skip
    with _proxy(fake, recorder) as proxy:
        host, port = proxy.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(request + body)
            received = b""
            while b"message_start" not in received:
                received += connection.recv(65536)
        gate.set()
    # Leaving the block stops the proxy, which waits for the stream to end.
    event = _events(emitter, sink)[0]
    assert event.outcome == "interrupted"
    assert event.error_type == "client_disconnected"
    assert event.cost_status.value == "estimated"
    # What message_start reported: 4 input x 1e-6 + 1 output x 5e-6
    assert event.cost_usd == Decimal("0.000009")


def test_stop_drains_open_streams(fake: FakeProvider, captured: Any) -> None:
    recorder, sink, emitter = captured
    gate = threading.Event()
    answer = wire.anthropic_sse("msg_late", "claude-haiku-4-5", {"input_tokens": 6}, 2)
    answer.gate = gate
    fake.add("/v1/messages", answer)
    proxy = _proxy(fake, recorder)
    proxy.start()
    received: list[bytes] = []

    def stream() -> None:
        with httpx.stream(
            "POST",
            proxy.url + "/anthropic/v1/messages",
            json={"model": "claude-haiku-4-5", "stream": True},
        ) as response:
            received.extend(response.iter_raw())

    client = threading.Thread(target=stream)
    client.start()
    while not fake.received:  # the request is in flight upstream
        gate.wait(0.01)
    threading.Timer(0.3, gate.set).start()
    proxy.stop()
    client.join()
    assert b"".join(received) == answer.body
    event = _events(emitter, sink)[0]
    assert event.outcome == "ok"
    # 6 input x 1e-6 + 2 output x 5e-6
    assert event.cost_usd == Decimal("0.000016")
