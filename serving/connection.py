"""What the buffering worker keeps per connection, and the answers it sends by itself."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any, Protocol

from gunicorn import util
from gunicorn.http.unreader import Unreader
from gunicorn.workers.gthread import TConn

from serving.framing import RequestFraming


class Lingerer(Protocol):
    def linger(self, sock: socket.socket) -> None: ...


class BufferedUnreader(Unreader):  # type: ignore[misc]
    """The parser's source: the bytes already buffered, and then nothing (never the socket)."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.buf.write(data)

    def chunk(self, size_hint: int | None = None) -> bytes:
        return b""


class BufferedConn(TConn):  # type: ignore[misc]
    """gthread's connection, whose graceful close lingers on the worker's loop, unblocked."""

    def __init__(self, worker: Lingerer, *args: Any) -> None:
        super().__init__(*args)
        self.worker = worker
        self.continued = False  # a 100 Continue was sent while buffering
        self.held = 0  # bytes of this connection's request held by the worker

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self.worker.linger(self.sock)
        else:
            util.close(self.sock)


@dataclass(slots=True)
class Pending:
    """A connection whose request is being read on the loop."""

    conn: BufferedConn
    framing: RequestFraming
    deadline: float


def answer(status: str, code: str, detail: str) -> bytes:
    """The app's JSON error shape, as a whole HTTP/1.1 response that closes."""
    body = json.dumps({"ok": False, "error": code, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
