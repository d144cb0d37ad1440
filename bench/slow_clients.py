"""Slow-client bench: slow sockets held open against a running service, on loopback only,
while /healthz and /api/challenge are timed (issue 17).

    python -m bench.slow_clients http://127.0.0.1:8000 [--sockets 200] [--kind both]
        [--quiet 15] [--duration 60] [--gap-min 5 --gap-max 30] [--json]

First ``--quiet`` seconds of probes alone, then ``--duration`` seconds with ``--sockets``
slow connections held open: ``headers`` ones send a request line and then one header line
every ``--gap-min``..``--gap-max`` seconds and never finish; ``bodies`` ones send whole
headers announcing a 1 MB multipart body (a form upload, which the app reads before it
answers) and then a few bytes of it per gap (``both``: half each). A
socket the server closes is opened again at once, so the count stays held. One probe at a
time asks /healthz, then POST /api/challenge, each with a ``--probe-timeout`` (5 s).

It prints, per phase and route: probes sent, answered (any HTTP status), timed out, the
median and 95th percentile latency of the answered; and how often the server closed a slow
socket. Start the service with ``FACE_LOGIN_APP_CHALLENGE_RATE_LIMIT="100000 per minute"``
(the probes' challenges; a 429 would still count as an answer) and
``FACE_LOGIN_APP_LOGIN_RATE_LIMIT="100000 per minute"``: the slow sockets are POSTs to
/api/login from one address standing for many, and past the per-address limit a server that
hands headers to the app at once answers them 429 without reading their bodies.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import resource
import select
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

ROUTES = (("GET", "/healthz"), ("POST", "/api/challenge"))
BODY_BYTES = 1_000_000
# A form upload, as the login page sends: the app reads (waits for) the body before answering.
MULTIPART = "multipart/form-data; boundary=slowslowslow"


@dataclass
class Probes:
    """Latencies (ms) of answered probes and counts of the rest, per route."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {p: [] for _, p in ROUTES})
    sent: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _, path in ROUTES:
            times = sorted(self.latencies[path])
            out[path] = {
                "sent": self.sent[path],
                "answered": len(times),
                "timed_out": self.timeouts[path],
                "median_ms": round(statistics.median(times), 1) if times else None,
                "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1) if times else None,
            }
        out["statuses"] = dict(self.statuses)
        return out


@dataclass
class Attack:
    """The slow sockets' side: how many are open, how often the server closed one."""

    open: int = 0
    opened: int = 0
    closed_by_server: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str, delta: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + delta)


def probe(base: str, stop: threading.Event, probes: Probes, timeout: float) -> None:
    """One probe at a time, each route in turn, until ``stop``."""
    origin = {"Origin": base}
    while not stop.is_set():
        for method, path in ROUTES:
            probes.sent[path] += 1
            start = time.perf_counter()
            try:
                r = requests.request(method, base + path, headers=origin, timeout=timeout)
            except requests.RequestException:
                probes.timeouts[path] += 1
                continue
            probes.latencies[path].append((time.perf_counter() - start) * 1000)
            probes.statuses[f"{path} {r.status_code}"] += 1
        stop.wait(0.2)


def readable(sock: socket.socket, seconds: float) -> bool:
    """poll, not select: select cannot watch descriptors past 1023."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(seconds * 1000))


def slow_socket(
    host: str, port: int, kind: str, gaps: tuple[float, float], stop: threading.Event, at: Attack
) -> None:
    """One slow client, reopened whenever the server closes it, until ``stop``."""
    rng = random.Random()
    while not stop.is_set():
        try:
            sock = socket.create_connection((host, port), timeout=10)
        except OSError:
            stop.wait(1)
            continue
        at.count("opened")
        at.count("open")
        try:
            if kind == "headers":
                sock.sendall(f"POST /api/login HTTP/1.1\r\nHost: {host}\r\n".encode())
            else:
                sock.sendall(
                    f"POST /api/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
                    f"{MULTIPART}\r\nContent-Length: {BODY_BYTES}\r\n\r\n".encode()
                )
            n = 0
            while not stop.is_set():
                # Readable before the next line is due: the server answered (408) or closed.
                if readable(sock, rng.uniform(*gaps)):
                    raise ConnectionResetError
                n += 1
                sock.sendall(f"X-Slow-{n}: {n}\r\n".encode() if kind == "headers" else b"x" * 16)
        except OSError:
            at.count("closed_by_server")
        finally:
            at.count("open", -1)
            sock.close()


def phase(base: str, seconds: float, timeout: float) -> Probes:
    probes = Probes()
    stop = threading.Event()
    thread = threading.Thread(target=probe, args=(base, stop, probes, timeout), daemon=True)
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join(timeout + 1)
    return probes


def run(args: argparse.Namespace) -> dict[str, Any]:
    url = urlsplit(args.base_url)
    host, port = url.hostname or "", url.port or 80
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        raise SystemExit(f"slow_clients: {host} is not a loopback address; refused")
    base = args.base_url.rstrip("/")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.sockets + 256)), hard))
    quiet = phase(base, args.quiet, args.probe_timeout)

    attack, stop = Attack(), threading.Event()
    kinds = ["headers", "bodies"] if args.kind == "both" else [args.kind]
    gaps = (args.gap_min, args.gap_max)
    threads = [
        threading.Thread(
            target=slow_socket,
            args=(host, port, kinds[i % len(kinds)], gaps, stop, attack),
            daemon=True,
        )
        for i in range(args.sockets)
    ]
    for thread in threads:
        thread.start()
    deadline = time.time() + 30
    while attack.open < args.sockets and time.time() < deadline:
        time.sleep(0.1)
    held_at_start = attack.open
    under_attack = phase(base, args.duration, args.probe_timeout)
    held_at_end = attack.open
    stop.set()
    return {
        "sockets": args.sockets,
        "kind": args.kind,
        "gaps_s": list(gaps),
        "quiet": {"seconds": args.quiet, **quiet.summary()},
        "slow": {"seconds": args.duration, **under_attack.summary()},
        "slow_sockets": {
            "held_at_start": held_at_start,
            "held_at_end": held_at_end,
            "opened": attack.opened,
            "closed_by_server": attack.closed_by_server,
        },
    }


def show(result: dict[str, Any]) -> str:
    lines = [
        f"{result['sockets']} slow sockets ({result['kind']}), a line every "
        f"{result['gaps_s'][0]:g}-{result['gaps_s'][1]:g} s"
    ]
    for name in ("quiet", "slow"):
        block = result[name]
        lines.append(f"{name} ({block['seconds']:g} s):")
        for _, path in ROUTES:
            r = block[path]
            lines.append(
                f"  {path:15} answered {r['answered']}/{r['sent']}, timed out {r['timed_out']},"
                f" median {r['median_ms']} ms, p95 {r['p95_ms']} ms"
            )
    s = result["slow_sockets"]
    lines.append(
        f"slow sockets: held {s['held_at_start']} at start, {s['held_at_end']} at end; "
        f"opened {s['opened']}, closed by the server {s['closed_by_server']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__)
    parser.add_argument("base_url", help="the service, e.g. http://127.0.0.1:8000 (loopback)")
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--kind", choices=("headers", "bodies", "both"), default="both")
    parser.add_argument("--quiet", type=float, default=15.0, help="seconds of probes alone")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds under attack")
    parser.add_argument("--gap-min", type=float, default=5.0)
    parser.add_argument("--gap-max", type=float, default=30.0)
    parser.add_argument("--probe-timeout", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print JSON instead")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else show(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
