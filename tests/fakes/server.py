"""A scripted HTTP/1.1 server: each path answers with a fixed status, headers and body.

Bodies are sent as one Content-Length response or, for streams, in
Transfer-Encoding chunks, one chunk per scripted piece. A piece can wait on
a gate (to prove the proxy does not buffer), and a stream can be cut off
after some pieces by closing the socket without the last chunk.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    """One scripted answer."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    pieces: list[bytes] = field(default_factory=list)
    stream: bool = False
    #: Wait on this event before sending the second piece.
    gate: threading.Event | None = None
    #: Close the connection after this many pieces, without ending the body.
    cut_after: int | None = None
    delay_s: float = 0.0

    @property
    def body(self) -> bytes:
        """The full body the client should receive (up to a cut)."""
        pieces = (
            self.pieces if self.cut_after is None else self.pieces[: self.cut_after]
        )
        return b"".join(pieces)


@dataclass
class Received:
    """A request as the fake saw it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class FakeProvider:
    """A fake upstream on a free loopback port."""

    def __init__(self) -> None:
        self.routes: dict[str, Scripted] = {}
        self.received: list[Received] = []
        self.finished = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def add(self, path: str, answer: Scripted) -> Scripted:
        """Answer requests to ``path`` (query ignored) or scenario with ``answer``."""
        self.routes[path] = answer
        return answer

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake: FakeProvider = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        fake.received.append(
            Received(self.command, self.path, list(self.headers.items()), body)
        )
        # A scenario header picks among several answers on one path; it also
        # shows that the proxy forwards request headers.
        answer = fake.routes.get(self.headers.get("x-scenario") or path)
        if answer is None:
            answer = Scripted(
                status=404,
                headers=[("Content-Type", "application/json")],
                pieces=[b'{"error":{"type":"not_found"}}'],
            )
        self._answer(answer)
        fake.finished.set()

    do_GET = do_POST

    def _answer(self, answer: Scripted) -> None:
        self.send_response_only(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        if answer.stream:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if not answer.stream:
            self.wfile.write(answer.body)
            return
        for index, piece in enumerate(answer.pieces):
            if answer.cut_after is not None and index == answer.cut_after:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if index == 1 and answer.gate is not None:
                answer.gate.wait(10)
            if answer.delay_s:
                time.sleep(answer.delay_s)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")
