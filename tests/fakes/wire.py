"""Response bodies in each provider's exact wire format, JSON and streamed.

The shapes follow the providers' API references: Anthropic Messages (with
``event:`` lines), OpenAI Chat Completions chunks ending in ``data: [DONE]``,
OpenAI Responses events, and Gemini ``alt=sse`` chunks separated by CRLF
pairs, each repeating the running ``usageMetadata``.
"""

from __future__ import annotations

import json
from typing import Any

from .server import Scripted

JSON = [("Content-Type", "application/json")]
SSE = [
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {_dumps(data)}\n\n".encode()


def anthropic_json(message_id: str, model: str, usage: dict[str, Any]) -> Scripted:
    """A non-streamed Messages response."""
    body = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "Hello there."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    headers = [
        *JSON,
        ("request-id", f"req_{message_id}"),
        ("anthropic-organization-id", "org"),
    ]
    return Scripted(headers=headers, pieces=[_dumps(body).encode()])


def anthropic_sse(
    message_id: str, model: str, start_usage: dict[str, Any], output_tokens: int
) -> Scripted:
    """A streamed Messages response: usage in message_start and message_delta."""
    start = {
        "type": "message_start",
        "message": {
            "id": message_id, "type": "message", "role": "assistant", "content": [],
            "model": model, "stop_reason": None, "stop_sequence": None,
            "usage": {**start_usage, "output_tokens": 1},
        },
    }  # fmt: skip
    pieces = [
        _event("message_start", start),
        _event("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
        _event("ping", {"type": "ping"}),
        _event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": "Hello"}}),
        _event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": " there."}}),
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event("message_delta", {"type": "message_delta",
                                 "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                 "usage": {"output_tokens": output_tokens}}),
        _event("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    headers = [*SSE, ("request-id", f"req_{message_id}")]
    return Scripted(headers=headers, pieces=pieces, stream=True)


def anthropic_error(status: int, kind: str) -> Scripted:
    """An Anthropic error body."""
    body = {"type": "error", "error": {"type": kind, "message": "Slow down."}}
    return Scripted(status=status, headers=[*JSON, ("request-id", "req_err")],
                    pieces=[_dumps(body).encode()])  # fmt: skip


def openai_chat_json(response_id: str, model: str, usage: dict[str, Any]) -> Scripted:
    """A non-streamed Chat Completions response."""
    body = {
        "id": response_id, "object": "chat.completion", "created": 1767225600,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": usage, "service_tier": "default", "system_fingerprint": "fp_1",
    }  # fmt: skip
    return Scripted(headers=[*JSON, ("x-request-id", f"req_{response_id}")],
                    pieces=[_dumps(body).encode()])  # fmt: skip


def openai_chat_sse(response_id: str, model: str, usage: dict[str, Any]) -> Scripted:
    """A streamed Chat Completions response with usage in the final chunk."""
    base = {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_1",
    }
    deltas = [{"role": "assistant", "content": ""}, {"content": "Hi"}, {"content": "."}]
    chunks = [_chat_chunk(base, delta, None) for delta in deltas]
    chunks.append(_chat_chunk(base, {}, "stop"))
    chunks.append({**base, "choices": [], "usage": usage})
    pieces = [f"data: {_dumps(chunk)}\n\n".encode() for chunk in chunks]
    pieces.append(b"data: [DONE]\n\n")
    return Scripted(headers=[*SSE, ("x-request-id", f"req_{response_id}")],
                    pieces=pieces, stream=True)  # fmt: skip


def _chat_chunk(
    base: dict[str, Any], delta: dict[str, Any], finish: str | None
) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {**base, "choices": [choice], "usage": None}


def _response(response_id: str, model: str, status: str, usage: Any) -> dict[str, Any]:
    output = [] if usage is None else [
        {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Hi.", "annotations": []}]}
    ]  # fmt: skip
    return {"id": response_id, "object": "response", "created_at": 1767225600,
            "status": status, "model": model, "output": output, "usage": usage,
            "service_tier": "default"}  # fmt: skip


def responses_json(response_id: str, model: str, usage: dict[str, Any]) -> Scripted:
    """A non-streamed Responses API response."""
    body = _response(response_id, model, "completed", usage)
    return Scripted(headers=[*JSON, ("x-request-id", f"req_{response_id}")],
                    pieces=[_dumps(body).encode()])  # fmt: skip


def responses_sse(response_id: str, model: str, usage: dict[str, Any]) -> Scripted:
    """A streamed Responses API response ending in ``response.completed``."""
    pieces = [
        _event("response.created", {"type": "response.created", "sequence_number": 0,
               "response": _response(response_id, model, "in_progress", None)}),
        _event("response.output_text.delta", {"type": "response.output_text.delta",
               "sequence_number": 1, "item_id": "msg_1", "output_index": 0,
               "content_index": 0, "delta": "Hi."}),
        _event("response.completed", {"type": "response.completed", "sequence_number": 2,
               "response": _response(response_id, model, "completed", usage)}),
    ]  # fmt: skip
    return Scripted(headers=[*SSE, ("x-request-id", f"req_{response_id}")],
                    pieces=pieces, stream=True)  # fmt: skip


def _gemini_chunk(
    text: str, usage: dict[str, Any], model: str, finish: bool, response_id: str
) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"parts": [{"text": text}], "role": "model"},
        "index": 0,
    }
    if finish:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
            "responseId": response_id}  # fmt: skip


def gemini_json(model: str, usage: dict[str, Any], response_id: str) -> Scripted:
    """A ``generateContent`` response."""
    body = _gemini_chunk("Hi.", usage, model, True, response_id)
    return Scripted(headers=JSON, pieces=[_dumps(body).encode()])


def gemini_sse(model: str, usages: list[dict[str, Any]], response_id: str) -> Scripted:
    """A ``streamGenerateContent?alt=sse`` response, one chunk per running usage."""
    last = len(usages) - 1
    chunks = [
        _gemini_chunk(f"part {i}", usage, model, i == last, response_id)
        for i, usage in enumerate(usages)
    ]
    pieces = [f"data: {_dumps(chunk)}\r\n\r\n".encode() for chunk in chunks]
    return Scripted(headers=[("Content-Type", "text/event-stream")], pieces=pieces,
                    stream=True)  # fmt: skip


def gemini_error(status: int, code: str) -> Scripted:
    """A Google API error body."""
    body = {"error": {"code": status, "message": "Try later.", "status": code}}
    return Scripted(status=status, headers=JSON, pieces=[_dumps(body).encode()])
