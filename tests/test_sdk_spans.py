"""The SDK with the real opentelemetry-sdk: spans for httpx LLM calls and by hand."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fakes import wire
from fakes.server import FakeProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import otel_cost
from otel_cost import sdk

SONNET = "claude-sonnet-4-5-20250929"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert sdk.configure(tracer_provider=provider)
    yield exporter
    sdk.shutdown()


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def _only(exporter: InMemorySpanExporter) -> ReadableSpan:
    finished = exporter.get_finished_spans()
    assert len(finished) == 1
    return finished[0]


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_sdk_anthropic_stream_span(
    spans: InMemorySpanExporter, fake: FakeProvider
) -> None:
    fake.add("/v1/messages", wire.anthropic_sse("msg_s", SONNET, {
        "input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20,
    }, output_tokens=50))  # fmt: skip
    with (
        httpx.Client() as client,
        client.stream(
            "POST",
            fake.url + "/v1/messages",
            json={"model": "claude-sonnet-4-5", "stream": True},
        ) as response,
    ):
        pieces = response.iter_bytes()
        assert next(pieces)
        # The span waits for the end of the stream, where usage arrives.
        assert spans.get_finished_spans() == ()
        for _ in pieces:
            pass
    span = _only(spans)
    attrs = _attrs(span)
    assert span.name == "chat claude-sonnet-4-5"
    assert span.kind is SpanKind.CLIENT
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert attrs["gen_ai.response.model"] == SONNET
    assert attrs["gen_ai.response.id"] == "msg_s"
    assert attrs["gen_ai.request.stream"] is True
    # Conventions: input includes cache reads and writes.
    assert attrs["gen_ai.usage.input_tokens"] == 130
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 100
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 20
    assert attrs["gen_ai.usage.output_tokens"] == 50
    # 10 x 3e-6 + 100 x 3e-7 + 20 x 3.75e-6 + 50 x 1.5e-5
    expected = (
        Decimal("0.00003")
        + Decimal("0.00003")
        + Decimal("0.000075")
        + Decimal("0.00075")
    )
    assert Decimal(attrs["otel_cost.cost_usd"]) == expected
    assert attrs["gen_ai.usage.cost.amount"] == pytest.approx(float(expected))
    assert attrs["gen_ai.usage.cost.currency"] == "USD"
    assert attrs["gen_ai.usage.cost.source"] == "local"
    assert attrs["otel_cost.pricing_version"] == "litellm-2026-07-24"
    assert attrs["gen_ai.response.time_to_first_chunk"] >= 0


def test_sdk_openai_reasoning_tokens(
    spans: InMemorySpanExporter, fake: FakeProvider
) -> None:
    fake.add("/v1/responses", wire.responses_json("resp_1", "gpt-5-mini-2025-08-07", {
        "input_tokens": 1000, "input_tokens_details": {"cached_tokens": 600},
        "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 200},
    }))  # fmt: skip
    response = httpx.post(fake.url + "/v1/responses", json={"model": "gpt-5-mini"})
    assert response.status_code == 200
    attrs = _attrs(_only(spans))
    assert attrs["gen_ai.usage.input_tokens"] == 1000
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 600
    assert attrs["gen_ai.usage.output_tokens"] == 300
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 200
    # 400 x 2.5e-7 + 600 x 2.5e-8 + 100 x 2e-6 + 200 x 2e-6
    assert Decimal(attrs["otel_cost.cost_usd"]) == Decimal("0.000715")


@pytest.mark.anyio
async def test_sdk_async_gemini_stream(
    spans: InMemorySpanExporter, fake: FakeProvider
) -> None:
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    fake.add(path, wire.gemini_sse("gemini-2.5-flash", [
        {"promptTokenCount": 80, "candidatesTokenCount": 5},
        {"promptTokenCount": 80, "candidatesTokenCount": 25, "thoughtsTokenCount": 10},
    ], "g-async"))  # fmt: skip
    async with httpx.AsyncClient() as client:
        async with client.stream(
            "POST", fake.url + path + "?alt=sse", json={}
        ) as response:
            async for _ in response.aiter_bytes():
                pass
    span = _only(spans)
    attrs = _attrs(span)
    assert span.name == "generate_content gemini-2.5-flash"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.usage.input_tokens"] == 80
    # Gemini thoughts are outside candidates; the conventions put them in output.
    assert attrs["gen_ai.usage.output_tokens"] == 35
    # 80 x 3e-7 + 25 x 2.5e-6 + 10 x 2.5e-6
    assert Decimal(attrs["otel_cost.cost_usd"]) == Decimal("0.0001115")


def test_sdk_error_marks_span(spans: InMemorySpanExporter, fake: FakeProvider) -> None:
    fake.add("/v1/messages", wire.anthropic_error(429, "rate_limit_error"))
    response = httpx.post(
        fake.url + "/v1/messages", json={"model": "claude-sonnet-4-5"}
    )
    assert response.status_code == 429
    span = _only(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert _attrs(span)["error.type"] == "rate_limit_error"
    assert _attrs(span)["http.response.status_code"] == 429


def test_sdk_unknown_model_unpriced(
    spans: InMemorySpanExporter, fake: FakeProvider
) -> None:
    fake.add("/v1/chat/completions", wire.openai_chat_json("c", "in-house-model-7", {
        "prompt_tokens": 10, "completion_tokens": 2,
    }))  # fmt: skip
    httpx.post(fake.url + "/v1/chat/completions", json={"model": "in-house-model-7"})
    attrs = _attrs(_only(spans))
    assert attrs["otel_cost.cost_status"] == "unpriced"
    assert "gen_ai.usage.cost.amount" not in attrs
    assert attrs["gen_ai.usage.input_tokens"] == 10
    assert sdk.stats().unpriced >= 1


def test_sdk_ignores_other_requests(
    spans: InMemorySpanExporter, fake: FakeProvider
) -> None:
    httpx.get(fake.url + "/v1/models")
    httpx.post(fake.url + "/v1/embeddings", json={})
    assert spans.get_finished_spans() == ()


def test_sdk_connection_error_span(spans: InMemorySpanExporter) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.post(
            "http://127.0.0.1:9/v1/messages", json={"model": "claude-sonnet-4-5"}
        )
    span = _only(spans)
    assert _attrs(span)["error.type"] == "ConnectError"


def test_record_usage_by_hand(spans: InMemorySpanExporter) -> None:
    cost = otel_cost.record_usage(
        "claude-haiku-4-5", {"input_tokens": 100, "output_tokens": 40},
        provider="anthropic", usage_format="anthropic", duration_ms=1200,
    )  # fmt: skip
    # 100 x 1e-6 + 40 x 5e-6
    assert cost == Decimal("0.0003")
    span = _only(spans)
    assert span.name == "chat claude-haiku-4-5"
    assert span.end_time is not None and span.start_time is not None
    assert span.end_time - span.start_time == 1_200_000_000
    assert _attrs(span)["otel_cost.cost_usd"] == "0.000300"


def test_record_usage_never_raises(spans: InMemorySpanExporter) -> None:
    errors = sdk.stats().errors
    assert sdk.record_usage("gpt-x", {"input": -5}) is None
    assert sdk.record_usage("gpt-x", {"bogus": 1}) is None
    assert sdk.stats().errors == errors + 2
    assert spans.get_finished_spans() == ()


def test_configure_runs_once(spans: InMemorySpanExporter) -> None:
    assert not sdk.configure()
