"""Slow clients cannot starve the workers (issue 17): on a real gunicorn (2 workers x 4
threads, as shipped), 200 connections trickling their headers or their bodies are held open
while a real head-turn login succeeds within its quiet latency's bound; then the server
drops every one of them (408) at [app] request_read_timeout, and nothing is lost."""

from __future__ import annotations

import resource
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from tests.oidc.flow import LIVE, clip, face_login
from tests.server.test_gunicorn import ADMIN, start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.integration]
SLOW = 200
READ_TIMEOUT = 20  # long enough to hold every slow socket through the logins
GAP = 1.0  # seconds between two trickled lines
MULTIPART = "multipart/form-data; boundary=slowslowslow"  # a form: the app waits for it


@dataclass
class SlowClient:
    """One connection sending a request a line (or 16 bytes of body) per GAP, never done."""

    host: str
    port: int
    kind: str  # "headers" or "body"
    answer: bytes = b""
    closed_at: float | None = None  # when the server closed it
    connected: bool = False

    def run(self, stop: threading.Event) -> None:
        with socket.create_connection((self.host, self.port), timeout=30) as sock:
            head = f"POST /api/login HTTP/1.1\r\nHost: {self.host}\r\n"
            if self.kind == "body":
                head += f"Content-Type: {MULTIPART}\r\nContent-Length: 1000000\r\n\r\n"
            sock.sendall(head.encode())
            self.connected = True
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            line = 0
            while not stop.is_set():
                if poller.poll(GAP * 1000):  # the server answered or closed
                    self.read_to_end(sock)
                    return
                line += 1
                data = b"x" * 16 if self.kind == "body" else f"X-Slow-{line}: 1\r\n".encode()
                try:
                    sock.sendall(data)
                except OSError:
                    self.read_to_end(sock)
                    return

    def read_to_end(self, sock: socket.socket) -> None:
        try:
            while chunk := sock.recv(65536):
                self.answer += chunk
        except OSError:
            pass
        self.closed_at = time.monotonic()


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def timed_login(base: str, frames: list[bytes]) -> float:
    """A head-turn login as the page does it (a challenge, then the frames), in seconds."""
    start = time.perf_counter()
    r = face_login(requests.Session(), base, frames)
    assert r.json()["username"] == "ana", r.text
    return time.perf_counter() - start


def warm_both_workers(base: str, frames: list[bytes]) -> None:
    """Log in over several connections at once until both workers have served a login (each
    builds its models on first use, which no timed login should pay); each connection then
    asks which worker it is on."""

    def login_and_ask(_: int) -> int:
        with requests.Session() as browser:
            face_login(browser, base, frames)
            admin = {"Authorization": f"Bearer {ADMIN}"}
            stats = browser.get(f"{base}/api/admin/stats", headers=admin, timeout=30)
            return int(stats.json()["worker"])

    workers: set[int] = set()
    with ThreadPoolExecutor(4) as pool:
        for _ in range(6):
            workers.update(pool.map(login_and_ask, range(4)))
            if len(workers) == 2:
                return
    raise AssertionError(f"logins reached only workers {workers}")


def test_slow_clients_do_not_delay_a_head_turn_login(tmp_path, liveness_data):
    raise_fd_limit(4 * SLOW + 256)
    frames = clip(liveness_data)
    env = {
        **LIVE,
        "FACE_LOGIN_APP_CHALLENGE_RATE_LIMIT": "1000 per minute",
        "FACE_LOGIN_APP_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT),
    }
    proc, base, log = start_server(tmp_path / "data", workers=2, extra_env=env)
    stop = threading.Event()
    try:
        face_login(requests.Session(), base, frames, username="ana")
        warm_both_workers(base, frames)
        quiet = max(timed_login(base, frames) for _ in range(2))

        port = int(base.rsplit(":", 1)[1])
        clients = [SlowClient("127.0.0.1", port, ("headers", "body")[i % 2]) for i in range(SLOW)]
        threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in clients]
        held_from = time.monotonic()
        for thread in threads:
            thread.start()
        while not all(c.connected for c in clients):
            assert time.monotonic() - held_from < 30, "slow clients could not connect"
            time.sleep(0.1)
        time.sleep(2 * GAP)  # every one has trickled more since

        slow = timed_login(base, frames)
        print(f"head-turn login: {quiet:.2f} s quiet (worst of 2), {slow:.2f} s with {SLOW} slow")
        still_open = sum(c.closed_at is None for c in clients)
        assert still_open == SLOW, f"only {still_open} slow clients were held through the login"
        assert slow <= 3 * quiet + 2, f"login: {slow:.1f} s with slow clients, {quiet:.1f} quiet"
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200

        # The server ends every slow request at its read deadline, with a 408.
        for thread in threads:
            thread.join(timeout=max(0.0, held_from + READ_TIMEOUT + 30 - time.monotonic()))
        open_now = [c for c in clients if c.closed_at is None]
        assert not open_now, f"{len(open_now)} slow clients still open past the read deadline"
        for client in clients:
            assert client.answer.startswith(b"HTTP/1.1 408 "), (client.kind, client.answer[:80])
            assert b'"error": "request_timeout"' in client.answer
            assert client.closed_at - held_from >= READ_TIMEOUT - 1
        assert timed_login(base, frames) <= 3 * quiet + 2
    finally:
        stop.set()
        stop_server(proc)
    text = log.read_text()
    assert "Traceback" not in text and "[ERROR]" not in text and "WORKER TIMEOUT" not in text
