"""httpx instrumentation: every LLM call made through httpx becomes a GenAI span.

The OpenAI, Anthropic and Google SDKs send through httpx's default transports,
so the SDK wraps ``HTTPTransport.handle_request`` and
``AsyncHTTPTransport.handle_async_request``. The response stream is wrapped
too, because usage arrives in the body (for streams, at its very end) and the
span must end only when the body does. Everything here swallows its own
errors, so they never reach the host application's request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
from opentelemetry import trace

from otel_cost.capture.wire import Endpoint, match_endpoint
from otel_cost.sdk.call import LlmCall
from otel_cost.sdk.state import STATE

_ORIGINALS: dict[str, Callable[..., Any]] = {}


def instrument() -> None:
    """Patch httpx's default transports (once)."""
    if _ORIGINALS:
        return
    sync_original = httpx.HTTPTransport.handle_request
    async_original = httpx.AsyncHTTPTransport.handle_async_request
    _ORIGINALS["sync"] = sync_original
    _ORIGINALS["async"] = async_original

    def handle_request(
        self: httpx.HTTPTransport, request: httpx.Request
    ) -> httpx.Response:
        call = _start(request)
        if call is None:
            return sync_original(self, request)
        try:
            with trace.use_span(call.span, end_on_exit=False):
                response = sync_original(self, request)
        except BaseException as exc:
            call.end(type(exc).__name__)
            raise
        _watch(call, response, asynchronous=False)
        return response

    async def handle_async_request(
        self: httpx.AsyncHTTPTransport, request: httpx.Request
    ) -> httpx.Response:
        call = _start(request)
        if call is None:
            return await async_original(self, request)
        try:
            with trace.use_span(call.span, end_on_exit=False):
                response = await async_original(self, request)
        except BaseException as exc:
            call.end(type(exc).__name__)
            raise
        _watch(call, response, asynchronous=True)
        return response

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]


def uninstrument() -> None:
    """Restore httpx's transports."""
    if not _ORIGINALS:
        return
    httpx.HTTPTransport.handle_request = _ORIGINALS.pop("sync")  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = _ORIGINALS.pop("async")  # type: ignore[method-assign]


def _start(request: httpx.Request) -> LlmCall | None:
    try:
        endpoint: Endpoint | None = match_endpoint(
            None, request.method, request.url.path
        )
        return None if endpoint is None else LlmCall(endpoint, request)
    except Exception as exc:
        STATE.count_error("cannot start an LLM span", exc)
        return None


def _watch(call: LlmCall, response: httpx.Response, asynchronous: bool) -> None:
    try:
        call.on_response(response)
        if asynchronous:
            response.stream = _MeteredAsyncStream(response.stream, call)
        else:
            response.stream = _MeteredSyncStream(response.stream, call)
    except Exception as exc:
        STATE.count_error("cannot meter an LLM response", exc)
        call.end()


class _MeteredSyncStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, call: LlmCall) -> None:
        self._inner = inner
        self._call = call
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for piece in self._inner:
                self._call.feed(piece)
                yield piece
        except Exception as exc:
            self._call.end(type(exc).__name__)
            raise
        self._done = True
        self._call.end()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            # Closed before the end: the application stopped reading.
            self._call.end(closed_early=not self._done)


class _MeteredAsyncStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, call: LlmCall) -> None:
        self._inner = inner
        self._call = call
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._inner:
                self._call.feed(piece)
                yield piece
        except Exception as exc:
            self._call.end(type(exc).__name__)
            raise
        self._done = True
        self._call.end()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._call.end(closed_early=not self._done)
