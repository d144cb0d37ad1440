"""A gunicorn worker whose threads only ever see whole requests.

gthread hands a connection to a thread as soon as its first byte arrives; the thread then
blocks reading the rest, so a few clients trickling their headers or bodies hold every
thread (issue 17: 8 such sockets stopped a 2 x 4 service). ``BufferingWorker`` reads each
request on the worker's event loop instead - headers, then the Content-Length or chunked
body - and submits it to the thread pool only once it has all arrived. Meanwhile:

- a request not whole within ``read_timeout`` seconds of its first byte being awaited is
  dropped (408 if any of it had come);
- a body declared (or, chunked, grown) larger than ``max_body`` is answered 413 at once,
  unread;
- the bytes held, by requests arriving or waiting for a thread, stay within ``max_held``
  (give or take one read per connection): past it, connections still arriving are not read
  until held bytes are freed, so TCP holds their clients back at no cost here. Buffering
  does not let many fast uploads take the memory that gthread's threads bounded before, and
  a flood of big uploads is slowed, not answered with errors it would retry at once;
- the thread's parser reads from those buffered bytes only, never from the socket, and
  writing the answer is bounded by ``read_timeout`` too (a client that stops reading it);
- connections are closed without blocking the loop (gthread's graceful close waits up to
  2 s per connection for the client's FIN on the loop itself).

TLS and HTTP/2 connections (not used by face-login: no certfile, no http2 settings) are left
to gthread as they are. Nothing of face-login is imported here: the master loads this class.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http import get_parser
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn, ThreadWorker

from serving.connection import BufferedConn, BufferedUnreader, Pending, answer
from serving.framing import RequestFraming, Verdict

RECV_BYTES = 256 * 1024
# A refused or finished connection is kept this long to take what the client still sends
# (closing with unread bytes sends a reset, which can destroy the answer before it is read).
LINGER_SECONDS = 2.0


class BufferingWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with each request read whole on the event loop before a thread gets it."""

    read_timeout: float = 30.0
    max_body: int = 16 * 1024 * 1024
    max_held: int = 128 * 1024 * 1024
    upload_rate: int = 0  # bytes a second read from one peer address (0: no limit)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[BufferedConn, Pending] = {}
        self.lingering: dict[socket.socket, float] = {}
        self.paused: deque[Pending] = deque()
        # Connections of peers past ``upload_rate`` in this second, and what each peer sent.
        self.rate_paused: deque[Pending] = deque()
        self.peer_bytes: dict[str, int] = {}
        self.window_start = time.monotonic()
        self.held = 0
        cfg = self.cfg
        line = cfg.limit_request_line or 8190
        fields = cfg.limit_request_fields or 32768
        size = cfg.limit_request_field_size or 8190
        self.max_header_bytes = line + 2 + fields * (size + 2) + 2
        # One request of the largest size always fits.
        self.max_held = max(self.max_held, self.max_body + self.max_header_bytes)

    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = BufferedConn(self, self.cfg, client_sock, client_addr, listener.getsockname())
        self.enqueue_req(conn)

    def enqueue_req(self, conn: TConn) -> None:
        """Every request starts here (new, kept-alive and pipelined): read it whole first."""
        if not self.buffers(conn):
            super().enqueue_req(conn)
            return
        framing = RequestFraming(self.max_header_bytes, self.max_body)
        pending = Pending(conn, framing, time.monotonic() + self.read_timeout)
        # Bytes a previous request's parse read ahead: the start of this one.
        ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        self.hold(conn, len(ahead))
        if ahead and self.advance(pending, ahead):
            return
        conn.sock.setblocking(False)
        self.reading[conn] = pending
        on_data = partial(self.on_request_data, pending)
        self.poller.register(conn.sock, selectors.EVENT_READ, on_data)

    def buffers(self, conn: TConn) -> bool:
        """Plain HTTP/1.x connections are buffered; TLS and HTTP/2 ones go to gthread."""
        if not isinstance(conn, BufferedConn) or self.cfg.is_ssl or conn.is_http2:
            return False
        peer = conn.client
        return not (
            negotiation.prior_knowledge_allowed(self.cfg, peer)
            or negotiation.upgrade_allowed(self.cfg, peer)
        )

    def on_request_data(self, pending: Pending, sock: socket.socket) -> None:
        try:
            data = sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self.stop_reading(pending)
            self.drop(pending.conn)
            return
        self.hold(pending.conn, len(data))
        if self.advance(pending, data):
            return
        if self.held > self.max_held:
            self.pause(pending)
        elif self.upload_rate and self.over_rate(pending.conn, len(data)):
            self.pause(pending, self.rate_paused)

    def over_rate(self, conn: BufferedConn, size: int) -> bool:
        """Count ``size`` bytes to ``conn``'s peer; whether it is past ``upload_rate`` now.

        One address flooding big uploads (that the application may then refuse) would
        otherwise have every byte read on this loop as fast as loopback carries them; paused,
        its sends wait in TCP until the next second."""
        peer = str(conn.client[0]) if isinstance(conn.client, tuple) else str(conn.client)
        sent = self.peer_bytes.get(peer, 0) + size
        self.peer_bytes[peer] = sent
        return sent > self.upload_rate

    def next_rate_window(self) -> None:
        """Every second: the counts start again, and rate-paused connections are read."""
        now = time.monotonic()
        if now - self.window_start < 1.0:
            return
        self.window_start = now
        self.peer_bytes.clear()
        waiting, self.rate_paused = self.rate_paused, deque()
        self.paused.extend(waiting)
        self.resume_paused()

    def pause(self, pending: Pending, queue: deque[Pending] | None = None) -> None:
        """Stop reading this connection (it keeps its read deadline) until ``queue`` (the
        held-bytes one by default) is resumed; its client's sends wait in TCP meanwhile."""
        try:
            self.poller.unregister(pending.conn.sock)
        except (KeyError, ValueError, OSError):
            return
        (self.paused if queue is None else queue).append(pending)

    def resume_paused(self) -> None:
        """Read paused connections again, oldest first, while the budget allows."""
        while self.paused and self.held <= self.max_held:
            pending = self.paused.popleft()
            if self.reading.get(pending.conn) is not pending:
                continue  # timed out or closed meanwhile
            on_data = partial(self.on_request_data, pending)
            try:
                self.poller.register(pending.conn.sock, selectors.EVENT_READ, on_data)
            except (KeyError, ValueError, OSError):
                self.stop_reading(pending)
                self.drop(pending.conn)

    def advance(self, pending: Pending, data: bytes) -> bool:
        """Feed ``data``; True once the connection has left the reading stage."""
        framing, conn = pending.framing, pending.conn
        verdict = framing.feed(data)
        if verdict is Verdict.MORE:
            if framing.expects_continue and not conn.continued:
                conn.continued = True
                self.send_now(conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
            return False
        self.stop_reading(pending)
        if verdict is Verdict.TOO_LARGE:
            detail = f"the upload is larger than the limit of {self.max_body} bytes"
            self.refuse(conn, answer("413 Content Too Large", "too_large", detail))
            return True
        self.dispatch(conn, bytes(framing.buf))
        return True

    def dispatch(self, conn: BufferedConn, request: bytes) -> None:
        """Hand a whole request to the thread pool; its parser reads these bytes only."""
        conn.initialized = conn.data_ready = True
        conn.sock.setblocking(True)
        if conn.parser is None:
            conn.parser = get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader = BufferedUnreader(request)
        super().enqueue_req(conn)

    def hold(self, conn: BufferedConn, size: int) -> None:
        conn.held += size
        self.held += size

    def release(self, conn: TConn) -> None:
        """``conn``'s bytes are no longer held (on the event loop: gunicorn runs
        ``finish_request`` there); paused connections may be read again."""
        if isinstance(conn, BufferedConn):
            self.held -= conn.held
            conn.held = 0
            self.resume_paused()

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """gthread's; the request's bytes are no longer held (a pipelined next one's are
        counted again as it is read)."""
        self.release(conn)
        super().finish_request(conn, fs)

    def handle_request(self, req: Any, conn: TConn) -> bool:
        """gthread's, with a bounded write and no second 100 Continue."""
        if isinstance(conn, BufferedConn):
            if conn.continued:
                req._expected_100_continue = False
                conn.continued = False
            conn.sock.settimeout(self.read_timeout)
        try:
            return bool(super().handle_request(req, conn))
        except TimeoutError:
            self.log.info("client %s did not take its answer in time; closed", conn.client)
            return False

    def _keepalive_after(self, conn: TConn, keepalive: bool) -> bool:
        """gthread's, except that a body the application left unread is all in memory here:
        it is dropped whole, and the connection kept. (gthread drains at most 64 KB from the
        socket and otherwise closes, after an answer that promised keep-alive: a client
        reusing the connection, after a 429 to a big upload, got no answer at all.)"""
        if not isinstance(conn, BufferedConn) or conn.parser is None:
            return bool(super()._keepalive_after(conn, keepalive))
        return keepalive and bool(conn.parser.finish_body())

    def stop_reading(self, pending: Pending) -> None:
        self.reading.pop(pending.conn, None)
        try:
            self.poller.unregister(pending.conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def drop(self, conn: BufferedConn) -> None:
        self.release(conn)
        self.nr_conns -= 1
        util.close(conn.sock)

    def refuse(self, conn: BufferedConn, response: bytes) -> None:
        self.release(conn)
        self.nr_conns -= 1
        self.send_now(conn.sock, response)
        self.linger(conn.sock)

    def send_now(self, sock: socket.socket, data: bytes) -> None:
        """What the socket's buffer takes at once (a short answer: all of it), never waiting."""
        try:
            sock.setblocking(False)
            sock.send(data)
        except OSError:
            pass

    def linger(self, sock: socket.socket) -> None:
        """Half-close, then take (and discard) what the client still sends, on the loop."""
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
            self.poller.register(sock, selectors.EVENT_READ, self.on_linger_data)
        except (OSError, ValueError, KeyError):
            util.close(sock)
            return
        self.lingering[sock] = time.monotonic() + LINGER_SECONDS

    def on_linger_data(self, sock: socket.socket) -> None:
        try:
            if sock.recv(RECV_BYTES):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self.end_linger(sock)

    def end_linger(self, sock: socket.socket) -> None:
        self.lingering.pop(sock, None)
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass
        util.close(sock)

    def murder_pending(self) -> None:
        """gthread's, and: requests past their read deadline, lingerers past theirs; the
        upload-rate window moves on (this runs at least once a second)."""
        super().murder_pending()
        self.next_rate_window()
        now = time.monotonic()
        for pending in [p for p in self.reading.values() if p.deadline <= now]:
            self.stop_reading(pending)
            if pending.framing.buf:
                detail = f"the request did not arrive within {self.read_timeout:g} seconds"
                self.refuse(pending.conn, answer("408 Request Timeout", "request_timeout", detail))
            else:
                self.drop(pending.conn)
        for sock in [s for s, deadline in self.lingering.items() if deadline <= now]:
            self.end_linger(sock)

    def _cap_keepalive(self, deadline: float) -> None:
        """On stop: connections that have sent nothing of a request are closed by then too."""
        super()._cap_keepalive(deadline)
        for pending in self.reading.values():
            if not pending.framing.buf:
                pending.deadline = min(pending.deadline, deadline)


def buffering_worker(
    read_timeout: float,
    max_body: int,
    max_held: int = BufferingWorker.max_held,
    upload_rate: int = 0,
) -> type[BufferingWorker]:
    """The worker class for gunicorn.conf.py's ``worker_class``, with [app]'s limits."""
    limits = {
        "read_timeout": read_timeout,
        "max_body": max_body,
        "max_held": max_held,
        "upload_rate": upload_rate,
    }
    return type("BufferingWorker", (BufferingWorker,), {**limits, "__module__": __name__})
