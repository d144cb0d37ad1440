"""serving/worker.py on a real gunicorn with one worker and ONE thread, serving a WSGI app
with no models (tests/server/echo_app.py): whole requests only reach the thread, and every
way a client can be slow or too big ends without holding it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.server.test_gunicorn import free_port

pytestmark = [pytest.mark.server]
READ_TIMEOUT = 2
MAX_BODY = 1000
MAX_HELD = 3000  # bytes held across the worker's requests (floor: 1000 + 1224 header bytes)
ECHO_APP = "tests.server.echo_app:app"
PING = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

CONF = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from serving.worker import buffering_worker
worker_class = buffering_worker({READ_TIMEOUT}, {MAX_BODY}, {MAX_HELD}, UPLOAD_RATE)
limit_request_line = 200
limit_request_fields = 10
limit_request_field_size = 100
workers = 1
threads = 1
graceful_timeout = 10
"""


@pytest.fixture
def server(tmp_path):
    yield from serve(tmp_path, upload_rate=0)


@pytest.fixture
def rate_server(tmp_path):
    """The same worker reading at most 1000 bytes a second from one address."""
    yield from serve(tmp_path, upload_rate=1000)


def serve(tmp_path: Path, upload_rate: int):
    conf = tmp_path / "conf.py"
    conf.write_text(CONF.replace("UPLOAD_RATE", str(upload_rate)))
    port = free_port()
    log = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(gunicorn),
                "-c",
                str(conf),
                "-b",
                f"127.0.0.1:{port}",
                "tests.server.echo_app:app",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.time() + 30
    while b"Booting worker" not in log.read_bytes() or not answers(port):
        assert proc.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.1)
    yield port, proc, log
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text()


def answers(port: int) -> bool:
    try:
        return exchange(port, PING, 1).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data``, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_slow_clients_do_not_hold_the_only_thread(server):
    port, _, _ = server
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    for i, sock in enumerate(slow):
        head = b"POST /up HTTP/1.1\r\nHost: x\r\n"
        sock.sendall(head if i % 2 else head + b"Content-Length: 500\r\n\r\nabc")
    time.sleep(0.3)
    start = time.monotonic()
    answer = exchange(port, PING)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"/ping 0")
    assert time.monotonic() - start < READ_TIMEOUT  # answered before any slow one was dropped
    # At the read deadline every slow one is answered 408 and closed.
    for sock in slow:
        sock.settimeout(READ_TIMEOUT + 5)
        got = read_all(sock)
        assert got.startswith(b"HTTP/1.1 408 ") and b"request_timeout" in got
        sock.close()


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server):
    port, _, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT + 5) as sock:
        start = time.monotonic()
        assert read_all(sock) == b""
        assert READ_TIMEOUT - 1 <= time.monotonic() - start


def test_an_over_long_body_is_refused_from_its_headers(server):
    port, _, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
        got = read_all(sock)  # no body byte sent: the answer comes from the headers alone
    assert got.startswith(b"HTTP/1.1 413 ") and b'"error": "too_large"' in got
    assert b"limit of 1000 bytes" in got


def test_bodies_whole_chunked_pipelined_and_after_100_continue(server):
    port, _, _ = server
    got = exchange(
        port,
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert got.count(b"HTTP/1.1 200") == 3
    assert b"/a 5" in got and b"/b 3" in got and got.endswith(b"/c 0")

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /d HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n"
            b"Connection: close\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        rest = read_all(sock)
    assert (
        b"100 Continue" not in rest and rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"/d 4")
    )


def test_a_client_that_stops_reading_its_answer_frees_the_thread(server):
    port, _, log = server
    with socket.create_connection(("127.0.0.1", port)) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")  # 32 MB, never read
        time.sleep(0.5)
        start = time.monotonic()
        answer = exchange(port, PING)
        assert answer.endswith(b"/ping 0")
        assert time.monotonic() - start < READ_TIMEOUT + 5
    assert "did not take its answer in time" in log.read_text()


def test_sigterm_with_idle_and_half_sent_connections_stops_promptly(server):
    port, proc, _ = server
    idle = socket.create_connection(("127.0.0.1", port))
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"GET /ping HTTP/1.1\r\n")
    time.sleep(0.3)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert time.monotonic() - start < READ_TIMEOUT + 5
    idle.close()
    half.close()


def test_held_bytes_stay_within_the_budget(server):
    """Three nearly whole 1000-byte uploads at once pass the 3000 bytes held: the third is
    not read further (its client waits in TCP, it gets no error to retry at once); once the
    first is served, its bytes are free again and the third is read and answered."""
    port, _, _ = server
    head = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    first, second, third = (socket.create_connection(("127.0.0.1", port), timeout=5) for _ in "abc")
    for sock in (first, second, third):
        sock.sendall(head + b"y" * 990)
        time.sleep(0.2)
    third.sendall(b"y" * 10 + b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    third.settimeout(1.0)
    with pytest.raises(TimeoutError):
        third.recv(100)  # paused: nothing answered while the budget is full
    third.settimeout(10)
    first.sendall(b"y" * 10 + b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert read_all(first).endswith(b"/ping 0")
    assert read_all(third).endswith(b"/ping 0"), "read and answered once bytes were freed"
    second.sendall(b"y" * 10 + b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert read_all(second).endswith(b"/ping 0")
    again = exchange(
        port, head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + b"z" * 1000
    )
    assert again.endswith(b"/up 1000")
    for sock in (first, second, third):
        sock.close()


def test_one_address_past_its_upload_rate_waits_and_is_then_read(rate_server):
    """Two unfinished uploads from one address pass its 1000 bytes a second: the second is
    not read further this second (no error: its client waits in TCP), then is answered."""
    port, _, _ = rate_server
    head = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
    first = socket.create_connection(("127.0.0.1", port), timeout=10)
    second = socket.create_connection(("127.0.0.1", port), timeout=10)
    first.sendall(head + b"a" * 600)
    time.sleep(0.2)
    second.sendall(head + b"b" * 600)
    time.sleep(0.2)
    second.sendall(b"b" * 400)
    first.sendall(b"a" * 400)
    assert read_all(first).endswith(b"/up 1000")
    assert read_all(second).endswith(b"/up 1000"), "read once the next second began"
    first.close()
    second.close()
