"""Incremental decoding of response bodies: content codings and server-sent events."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

#: Content codings the meter can always decode; the proxy requests no
#: others (zstd is decoded too, but only when ``zstandard`` is installed).
DECODABLE_CODINGS = ("gzip", "deflate", "identity")


class Decoder(Protocol):
    """Turns wire bytes into body bytes, piece by piece."""

    def decode(self, data: bytes) -> bytes:
        """Return the body bytes that ``data`` completes."""
        ...


class IdentityDecoder:
    """Passes bytes through."""

    def decode(self, data: bytes) -> bytes:
        """Return ``data`` unchanged."""
        return data


class ZlibDecoder:
    """Decodes gzip or deflate; deflate may come with or without its zlib header."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._inner = zlib.decompressobj(16 + zlib.MAX_WBITS if coding == "gzip" else 0)
        self._started = False

    def decode(self, data: bytes) -> bytes:
        """Return the inflated bytes of ``data``."""
        if not self._started and self._coding == "deflate":
            self._started = True
            try:
                return self._inner.decompress(data)
            except zlib.error:
                # Servers disagree on "deflate": raw DEFLATE versus zlib-wrapped.
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inner.decompress(data)


class ZstdDecoder:
    """Decodes zstd when the optional ``zstandard`` package is installed.

    httpx requests zstd whenever that package is importable, so the SDK's
    meter must read it too.
    """

    def __init__(self) -> None:
        import zstandard

        self._inner = zstandard.ZstdDecompressor().decompressobj()

    def decode(self, data: bytes) -> bytes:
        """Return the decompressed bytes of ``data``."""
        decoded: bytes = self._inner.decompress(data)
        return decoded


def make_decoder(content_encoding: str) -> Decoder | None:
    """Return a decoder for the header value, or None when a coding is unsupported."""
    parts = [part.strip().lower() for part in content_encoding.split(",")]
    codings = [coding for coding in parts if coding and coding != "identity"]
    if not codings:
        return IdentityDecoder()
    if len(codings) > 1:
        return None
    if codings[0] in ("gzip", "deflate", "x-gzip"):
        return ZlibDecoder("gzip" if codings[0] == "x-gzip" else codings[0])
    if codings[0] == "zstd":
        try:
            return ZstdDecoder()
        except ImportError:
            return None
    return None


@dataclass(frozen=True)
class SseEvent:
    """One dispatched server-sent event."""

    event: str
    data: str


class SseParser:
    """Splits a byte stream into events following the WHATWG event-stream rules.

    Lines end with LF or CRLF; a blank line dispatches the event; ``data``
    lines join with LF; lines starting with a colon are comments.
    NOTE: a lone CR, which the standard also allows as a line end, is not
    split on; none of the supported providers sends one.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, data: bytes) -> Iterator[SseEvent]:
        """Yield every event that ``data`` completes."""
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            event = self._line(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
            if event is not None:
                yield event

    def close(self) -> Iterator[SseEvent]:
        """Yield a last event left without its closing blank line."""
        if self._pending:
            event = self._line(self._pending.decode("utf-8", errors="replace"))
            self._pending = b""
            if event is not None:
                yield event
        event = self._line("")
        if event is not None:
            yield event

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SseEvent(self._event or "message", "\n".join(self._data))
        self._event, self._data = "", []
        return event
