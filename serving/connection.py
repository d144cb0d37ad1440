"""What the buffering worker keeps per connection, and the answers it sends by itself."""

from __future__ import annotations

import io
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
    """The parser's source: the bytes already buffered, and then nothing (never the socket).

    Reads are slices of one buffer at a moving offset: gunicorn's ``Unreader`` copies what is
    left on every read, which made reading (or dropping) a 10 MB body in 8 KB reads take
    seconds.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._pos = 0

    def chunk(self, size_hint: int | None = None) -> bytes:
        return b""

    @property
    def buf(self) -> io.BytesIO:
        """What is left, as gunicorn's ``Unreader`` keeps it (gthread looks there for a
        pipelined next request)."""
        return io.BytesIO(bytes(self._data[self._pos :]))

    @buf.setter
    def buf(self, _: io.BytesIO) -> None:
        """``Unreader.__init__`` sets an empty buffer; the bytes here are ``_data``."""

    def take_buffered(self) -> bytes:
        rest = bytes(self._data[self._pos :])
        self._pos = len(self._data)
        return rest

    def read(self, size: int | None = None, read_ahead: int | None = None) -> bytes:
        if size is not None and not isinstance(size, int):
            raise TypeError("size parameter must be an int or long.")
        if size == 0:
            return b""
        if size is None or size < 0:
            return self.take_buffered()
        piece = bytes(self._data[self._pos : self._pos + size])
        self._pos += len(piece)
        return piece

    def unread(self, data: bytes) -> None:
        self._data = memoryview(bytes(data) + bytes(self._data[self._pos :]))
        self._pos = 0


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
