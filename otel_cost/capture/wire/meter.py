"""Metering one response as it passes: feed bytes in, read usage out at the end."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from otel_cost.capture.wire.endpoints import WireFormat
from otel_cost.capture.wire.formats import READERS, USAGE_CONVENTIONS, FormatReader
from otel_cost.capture.wire.sse import Decoder, SseParser, make_decoder
from otel_cost.errors import UsageFormatError
from otel_cost.events import Usage
from otel_cost.normalise.usage import convert

logger = logging.getLogger(__name__)

#: A JSON body larger than this is passed on but not parsed for usage.
MAX_JSON_BYTES = 64 * 1024 * 1024


@dataclass
class Reading:
    """Usage and identity of one response, as far as the bytes seen allow."""

    usage: Usage | None = None
    model: str = ""
    response_id: str = ""
    service_tier: str = ""
    finish_reasons: list[str] = field(default_factory=list)
    error_type: str = ""
    complete: bool = False
    #: Why usage could not be read, or "" when it was (or there was none to read).
    problem: str = ""
    first_byte_ns: int | None = None


class ResponseMeter:
    """Reads usage from a response body fed in pieces, without holding up the bytes.

    A server-sent event stream is parsed event by event; any other body is
    copied (up to `MAX_JSON_BYTES`) and parsed once it ends. The meter never
    raises: a body it cannot read yields a `Reading` whose ``problem`` gives the reason.
    """

    def __init__(
        self, wire_format: WireFormat, content_type: str, content_encoding: str
    ) -> None:
        self.wire_format = wire_format
        self._reader: FormatReader = READERS[wire_format]()
        self._decoder: Decoder | None = make_decoder(content_encoding)
        self._sse = SseParser() if "text/event-stream" in content_type.lower() else None
        self._body = bytearray()
        self._problem = ""
        if self._decoder is None:
            self._problem = f"unsupported content-encoding {content_encoding!r}"
        self._first_byte_ns: int | None = None

    @property
    def streaming(self) -> bool:
        """Whether the body is a server-sent event stream."""
        return self._sse is not None

    def feed(self, data: bytes) -> None:
        """Take the next piece of the body, exactly as it came off the wire."""
        if self._first_byte_ns is None and data:
            self._first_byte_ns = time.monotonic_ns()
        if self._decoder is None or self._problem or not data:
            return
        try:
            decoded = self._decoder.decode(data)
            if self._sse is not None:
                for event in self._sse.feed(decoded):
                    self._dispatch(event.event, event.data)
            elif len(self._body) + len(decoded) <= MAX_JSON_BYTES:
                self._body += decoded
            else:
                self._problem = f"body larger than {MAX_JSON_BYTES} bytes"
                self._body = bytearray()
        except Exception as exc:  # a metering bug must never cut the stream
            self._problem = f"cannot read the body: {type(exc).__name__}"

    def finish(self) -> Reading:
        """Return the reading of the body once it has ended (or been cut off)."""
        if not self._problem:
            try:
                self._finish_body()
            except Exception as exc:
                self._problem = f"cannot read the body: {type(exc).__name__}"
        state = self._reader.state
        reading = Reading(
            model=state.model,
            response_id=state.response_id,
            service_tier=state.service_tier,
            finish_reasons=list(state.finish_reasons),
            error_type=state.error_type,
            complete=state.complete or self._ends_with_connection(),
            problem=self._problem,
            first_byte_ns=self._first_byte_ns,
        )
        if state.usage is not None:
            try:
                convention = USAGE_CONVENTIONS[self.wire_format]
                reading.usage = convert(convention, state.usage)
            except UsageFormatError as exc:
                reading.problem = f"invalid usage: {exc}"
        return reading

    def _ends_with_connection(self) -> bool:
        # A stream with no terminal event is complete when the body ended cleanly;
        # the caller knows whether it did and overrides this on a cut-off.
        return self.streaming and not self._reader.has_terminal_event

    def _finish_body(self) -> None:
        if self._sse is not None:
            for event in self._sse.close():
                self._dispatch(event.event, event.data)
            return
        if not self._body:
            return
        try:
            parsed: Any = orjson.loads(bytes(self._body))
        except orjson.JSONDecodeError:
            self._problem = "body is not JSON"
            return
        finally:
            self._body = bytearray()
        self._reader.on_json(parsed)

    def _dispatch(self, event: str, data: str) -> None:
        if data.strip() == "[DONE]":
            self._reader.on_done()
            return
        if not self._reader.wants(event, data):
            return
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        self._reader.on_event(event, parsed)
