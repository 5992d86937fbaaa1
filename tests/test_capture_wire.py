"""Usage extraction from each wire format, whole and byte by byte."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from fakes import wire

from otel_cost.capture.wire import (
    Provider,
    ResponseMeter,
    WireFormat,
    match_endpoint,
    summarise_request,
)
from otel_cost.capture.wire.sse import SseParser
from otel_cost.events import TokenCategory as T


def _meter_pieces(fmt: WireFormat, pieces: list[bytes], content_type: str, split: bool):
    meter = ResponseMeter(fmt, content_type, "")
    data = b"".join(pieces)
    if split:
        for index in range(len(data)):
            meter.feed(data[index : index + 1])
    else:
        meter.feed(data)
    return meter.finish()


@pytest.mark.parametrize("split", [False, True])
def test_anthropic_stream_usage(split: bool) -> None:
    answer = wire.anthropic_sse("msg_1", "claude-x", {"input_tokens": 7,
                                "cache_read_input_tokens": 3}, output_tokens=42)  # fmt: skip
    reading = _meter_pieces(WireFormat.ANTHROPIC_MESSAGES, answer.pieces,
                            "text/event-stream", split)  # fmt: skip
    assert reading.usage is not None
    assert reading.usage.tokens == {T.INPUT: 7, T.CACHE_READ: 3, T.OUTPUT: 42}
    assert reading.model == "claude-x"
    assert reading.response_id == "msg_1"
    assert reading.complete
    assert reading.finish_reasons == ["end_turn"]


def test_anthropic_delta_replaces_counts() -> None:
    # Newer API versions repeat cumulative input counts in message_delta.
    pieces = [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m",'
        b'"model":"c","usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{},'
        b'"usage":{"input_tokens":9,"output_tokens":30}}\n\n',
    ]
    reading = _meter_pieces(
        WireFormat.ANTHROPIC_MESSAGES, pieces, "text/event-stream", False
    )
    assert reading.usage is not None
    assert reading.usage.tokens == {T.INPUT: 9, T.OUTPUT: 30}
    assert not reading.complete


def test_anthropic_overloaded_error_event() -> None:
    pieces = [b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
              b'"message":"Overloaded"}}\n\n']  # fmt: skip
    reading = _meter_pieces(
        WireFormat.ANTHROPIC_MESSAGES, pieces, "text/event-stream", False
    )
    assert reading.error_type == "overloaded_error"


@pytest.mark.parametrize("split", [False, True])
def test_openai_chat_final_chunk(split: bool) -> None:
    usage = {"prompt_tokens": 50, "completion_tokens": 9,
             "prompt_tokens_details": {"cached_tokens": 20},
             "completion_tokens_details": {"reasoning_tokens": 4}}  # fmt: skip
    answer = wire.openai_chat_sse("c1", "gpt-x", usage)
    reading = _meter_pieces(
        WireFormat.OPENAI_CHAT, answer.pieces, "text/event-stream", split
    )
    assert reading.usage is not None
    assert reading.usage.tokens == {
        T.INPUT: 30,
        T.CACHE_READ: 20,
        T.OUTPUT: 5,
        T.REASONING: 4,
    }
    assert reading.complete
    assert reading.service_tier == "default"


def test_openai_chat_stream_without_usage() -> None:
    answer = wire.openai_chat_sse("c1", "gpt-x", {})
    pieces = [piece.replace(b'"usage":{}', b'"usage":null') for piece in answer.pieces]
    pieces = [piece for piece in pieces if b'"choices":[]' not in piece]
    reading = _meter_pieces(WireFormat.OPENAI_CHAT, pieces, "text/event-stream", False)
    assert reading.usage is None
    assert reading.complete


def test_responses_completed_event() -> None:
    usage = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60},
             "output_tokens": 40, "output_tokens_details": {"reasoning_tokens": 25}}  # fmt: skip
    answer = wire.responses_sse("resp_1", "gpt-5", usage)
    reading = _meter_pieces(WireFormat.OPENAI_RESPONSES, answer.pieces, "text/event-stream",
                            True)  # fmt: skip
    assert reading.usage is not None
    assert reading.usage.tokens == {
        T.INPUT: 40,
        T.CACHE_READ: 60,
        T.OUTPUT: 15,
        T.REASONING: 25,
    }
    assert reading.response_id == "resp_1"
    assert reading.finish_reasons == ["completed"]


def test_responses_failed_event() -> None:
    body = {"type": "response.failed", "response": {"id": "r", "status": "failed",
            "model": "gpt-5", "error": {"code": "server_error"}, "usage": None}}  # fmt: skip
    pieces = [f"event: response.failed\ndata: {json.dumps(body)}\n\n".encode()]
    reading = _meter_pieces(
        WireFormat.OPENAI_RESPONSES, pieces, "text/event-stream", False
    )
    assert reading.error_type == "server_error"
    assert reading.complete


@pytest.mark.parametrize("split", [False, True])
def test_gemini_stream_keeps_last(split: bool) -> None:
    usages = [
        {"promptTokenCount": 10, "candidatesTokenCount": 1},
        {"promptTokenCount": 10, "candidatesTokenCount": 7, "thoughtsTokenCount": 3},
    ]
    answer = wire.gemini_sse("gemini-x", usages, "g1")
    reading = _meter_pieces(WireFormat.GEMINI_GENERATE, answer.pieces, "text/event-stream",
                            split)  # fmt: skip
    assert reading.usage is not None
    assert reading.usage.tokens == {T.INPUT: 10, T.OUTPUT: 7, T.REASONING: 3}
    assert reading.finish_reasons == ["STOP"]


def test_gemini_json_array_stream() -> None:
    # streamGenerateContent without alt=sse sends one JSON array.
    chunks = [{"usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": n},
               "modelVersion": "gemini-x"} for n in (2, 5, 11)]  # fmt: skip
    reading = _meter_pieces(WireFormat.GEMINI_GENERATE, [json.dumps(chunks).encode()],
                            "application/json", True)  # fmt: skip
    assert reading.usage is not None
    assert reading.usage.tokens == {T.INPUT: 10, T.OUTPUT: 11}


def test_gemini_error_body() -> None:
    answer = wire.gemini_error(429, "RESOURCE_EXHAUSTED")
    reading = _meter_pieces(
        WireFormat.GEMINI_GENERATE, answer.pieces, "application/json", False
    )
    assert reading.error_type == "RESOURCE_EXHAUSTED"
    assert reading.usage is None


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),
    ],
)
def test_meter_decodes_content_coding(coding: str, compress) -> None:  # type: ignore[no-untyped-def]
    answer = wire.openai_chat_json(
        "c", "gpt-x", {"prompt_tokens": 8, "completion_tokens": 2}
    )
    meter = ResponseMeter(WireFormat.OPENAI_CHAT, "application/json", coding)
    data = compress(answer.body)
    for index in range(0, len(data), 7):
        meter.feed(data[index : index + 7])
    reading = meter.finish()
    assert reading.usage is not None
    assert reading.usage.tokens == {T.INPUT: 8, T.OUTPUT: 2}


def test_meter_reports_unknown_coding() -> None:
    meter = ResponseMeter(WireFormat.OPENAI_CHAT, "application/json", "br")
    meter.feed(b"\x0b\x00")
    reading = meter.finish()
    assert reading.usage is None
    assert reading.problem == "unsupported content-encoding 'br'"


def test_meter_survives_garbage() -> None:
    meter = ResponseMeter(WireFormat.ANTHROPIC_MESSAGES, "application/json", "")
    meter.feed(b"<html>bad gateway</html>")
    reading = meter.finish()
    assert reading.usage is None
    assert reading.problem == "body is not JSON"


def test_sse_parser_line_endings() -> None:
    parser = SseParser()
    events = list(
        parser.feed(b": comment\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: x")
    )
    events += list(parser.close())
    assert [(e.event, e.data) for e in events] == [("a", "1\n2"), ("message", "x")]


@pytest.mark.parametrize(
    ("provider", "path", "expected"),
    [
        (Provider.ANTHROPIC, "/v1/messages", WireFormat.ANTHROPIC_MESSAGES),
        (Provider.ANTHROPIC, "/v1/messages/count_tokens", None),
        (Provider.ANTHROPIC, "/v1/messages?beta=true", WireFormat.ANTHROPIC_MESSAGES),
        (Provider.ANTHROPIC, "/v1/messages/batches", None),
        (Provider.OPENAI, "/v1/chat/completions", WireFormat.OPENAI_CHAT),
        (Provider.OPENAI, "/openai/v1/responses?x=1", WireFormat.OPENAI_RESPONSES),
        (Provider.OPENAI, "/v1/embeddings", None),
        (Provider.GEMINI, "/v1beta/models/gemini-2.5-pro:generateContent",
         WireFormat.GEMINI_GENERATE),
        (None, "/v1beta/models/g:streamGenerateContent?alt=sse", WireFormat.GEMINI_GENERATE),
    ],
)  # fmt: skip
def test_endpoint_matching(provider, path, expected) -> None:  # type: ignore[no-untyped-def]
    endpoint = match_endpoint(provider, "POST", path)
    assert (endpoint.wire_format if endpoint else None) == expected


def test_endpoint_ignores_get() -> None:
    assert match_endpoint(Provider.OPENAI, "GET", "/v1/chat/completions") is None


def test_request_summary_model_and_stream() -> None:
    endpoint = match_endpoint(Provider.GEMINI, "POST",
                              "/v1beta/models/gemini-2.5-pro:streamGenerateContent")  # fmt: skip
    assert endpoint is not None
    summary = summarise_request(endpoint, b"{}")
    assert summary.model == "gemini-2.5-pro"
    assert summary.stream
    chat = match_endpoint(Provider.OPENAI, "POST", "/chat/completions")
    assert chat is not None
    assert summarise_request(chat, b'{"model":"gpt-x","stream":true}').stream
    assert summarise_request(chat, b"not json").model == ""


def test_anthropic_stream_without_event_names() -> None:
    # Some gateways drop the ``event:`` lines; the type field still tells.
    answer = wire.anthropic_sse(
        "msg_2", "claude-x", {"input_tokens": 3}, output_tokens=8
    )
    pieces = [
        b"".join(
            line + b"\n"
            for line in piece.split(b"\n")
            if not line.startswith(b"event:")
        )
        for piece in answer.pieces
    ]
    reading = _meter_pieces(
        WireFormat.ANTHROPIC_MESSAGES, pieces, "text/event-stream", False
    )
    assert reading.usage is not None
    assert reading.usage.tokens == {T.INPUT: 3, T.OUTPUT: 8}
    assert reading.complete
