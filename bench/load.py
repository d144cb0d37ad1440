"""Load and fault bench: logins against a running service, on loopback only.

    python -m bench.load http://127.0.0.1:8000 [--concurrency 8] [--frames 1|3]
        [--duration 30] [--max-requests 100000] [--photos DIR]

It registers its own user from the photos of one person (``--photos``, default
``$FACE_TEST_DATA/people/barack_obama``), warms every worker, then sends logins from
``--concurrency`` kept-alive connections until ``--duration`` seconds or ``--max-requests``
requests, whichever comes first. It prints JSON: logins/s, latency percentiles of successful
logins, and every other answer counted by status and error code.

The service must let it through: raise the rate limits (``FACE_LOGIN_APP_LOGIN_RATE_LIMIT``,
``FACE_LOGIN_APP_REGISTER_RATE_LIMIT``, e.g. "100000 per minute"), lift the client's share of
the workers (``FACE_LOGIN_APP_CLIENT_CONCURRENCY=0``, ``FACE_LOGIN_APP_CLIENT_WORK_LIMIT=``:
the bench is one address; with ``--challenge`` also ``FACE_LOGIN_LIVENESS_REPLAY_KEEP=0``:
every login sends the same recording) and, where logins ask for a
head-turn challenge, start the service with ``FACE_LOGIN_LIVENESS_LOGIN=false`` and
``FACE_LOGIN_LIVENESS_REGISTER=false``. A ``challenge_required`` answer stops the bench.

    python -m bench.load http://127.0.0.1:8000 --challenge [--levels 1,4,8] [--duration 30]

plays the head-turn challenge instead, against the shipped settings (liveness on): real
head-turn frames, a challenge per login, frames in the order it asks (bench/challenge_load.py).
Raise ``FACE_LOGIN_APP_CHALLENGE_RATE_LIMIT`` too.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
FACE_DATA = Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared" / "faces"))
DEFAULT_PHOTOS = FACE_DATA / "people" / "barack_obama"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


class BenchError(Exception):
    """The bench cannot run: a refused address, missing photos, a failed registration."""


def build_parser() -> argparse.ArgumentParser:
    bench = argparse.ArgumentParser(
        prog="python -m bench.load", description="logins against a running service"
    )
    bench.add_argument("base_url", help="the service, e.g. http://127.0.0.1:8000 (loopback only)")
    bench.add_argument("--concurrency", type=int, default=4, help="logins in flight at once")
    bench.add_argument("--frames", type=int, choices=(1, 3), default=1, help="images per login")
    bench.add_argument("--duration", type=float, default=30.0, help="seconds of measured load")
    bench.add_argument("--max-requests", type=int, default=100_000, help="stop after this many")
    bench.add_argument("--warmup", type=int, default=8, help="unmeasured logins first")
    bench.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="one person's photos")
    bench.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    bench.add_argument(
        "--challenge", action="store_true", help="play the head-turn challenge (liveness on)"
    )
    bench.add_argument(
        "--levels", default="1,4,8", help="--challenge: the concurrencies to run, in turn"
    )
    bench.add_argument(
        "--liveness", type=Path, default=None, help="--challenge: the head-turn clips folder"
    )
    return bench


def require_loopback(base_url: str) -> str:
    """``base_url`` without a trailing slash; BenchError unless every address is loopback."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BenchError(f"not an http(s) URL: {base_url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise BenchError(f"cannot resolve {parts.hostname!r}: {error}") from None
    addresses = {str(info[4][0]) for info in infos}
    outside = sorted(a for a in addresses if not ipaddress.ip_address(a).is_loopback)
    if outside:
        raise BenchError(f"{parts.hostname} is not loopback ({', '.join(outside)}): refused")
    return base_url.rstrip("/")


def load_photos(folder: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of the photos in ``folder``, sorted; BenchError below 4 (1 to register,
    3 to log in with)."""
    if not folder.is_dir():
        raise BenchError(f"no photo folder at {folder} (set --photos or FACE_TEST_DATA)")
    photos = [
        (p.name, p.read_bytes())
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in PHOTO_SUFFIXES
    ]
    if len(photos) < 4:
        raise BenchError(f"{folder} holds {len(photos)} photos; the bench needs 4 of one person")
    return photos


def image_fields(photos: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("image", (name, data, "image/jpeg")) for name, data in photos]


def error_code(response: requests.Response) -> str:
    """``<status>:<error code>`` of an answer that is not a successful login."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = body.get("error") if isinstance(body, dict) else None
    return f"{response.status_code}:{code or 'no_json'}"


def register(base: str, photos: list[tuple[str, bytes]], timeout: float) -> dict[str, object]:
    """Register a fresh user with the first photo. A face that is already registered (an
    earlier run) is fine: logins still find that user."""
    username = f"loadbench-{uuid.uuid4().hex[:8]}"
    try:
        r = requests.post(
            f"{base}/api/register",
            data={"username": username},
            files=image_fields(photos[:1]),
            timeout=timeout,
        )
    except requests.RequestException as error:
        raise BenchError(f"no answer from {base}: {error}") from None
    if r.status_code == 201:
        return {"username": username, "registered": True}
    code = error_code(r)
    if code == "409:face_already_registered":
        return {"username": None, "registered": False}
    hint = ""
    if code.endswith(":challenge_required"):
        hint = " (start the service with FACE_LOGIN_LIVENESS_REGISTER=false)"
    elif code.startswith("429"):
        hint = " (raise FACE_LOGIN_APP_REGISTER_RATE_LIMIT)"
    raise BenchError(f"registration failed: {code}{hint}")


@dataclass
class Tally:
    """What the load threads saw; every method is thread-safe."""

    max_requests: int
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    stopped: str = ""

    def take(self) -> bool:
        """Reserve one request; False once time, the request budget or a stop has run out."""
        with self.lock:
            if self.stopped or self.sent >= self.max_requests:
                return False
            if time.monotonic() >= self.deadline:
                return False
            self.sent += 1
            return True

    def record(self, latency_ms: float | None, error: str | None) -> None:
        with self.lock:
            if error is None and latency_ms is not None:
                self.latencies_ms.append(latency_ms)
            else:
                self.errors[error or "unknown"] += 1
                if error and error.endswith(":challenge_required"):
                    self.stopped = "challenge_required"


def login_once(
    client: requests.Session, base: str, frames: list[tuple[str, bytes]], timeout: float
) -> tuple[float | None, str | None]:
    """(latency in ms, None) for a successful login, else (None, error)."""
    start = time.perf_counter()
    try:
        r = client.post(f"{base}/api/login", files=image_fields(frames), timeout=timeout)
    except requests.RequestException as error:
        return None, f"exception:{type(error).__name__}"
    return login_outcome(r, start)


def login_outcome(r: requests.Response, start: float) -> tuple[float | None, str | None]:
    """(ms since ``start``, None) when ``r`` is a successful login, else (None, its error)."""
    latency = (time.perf_counter() - start) * 1000
    if r.status_code == 200 and r.json().get("ok") is True:
        return latency, None
    return None, error_code(r)


def frames_for(i: int, photos: list[tuple[str, bytes]], frames: int) -> list[tuple[str, bytes]]:
    """The ``i``-th login's frames, rotating over the photos not used to register."""
    pool = photos[1:]
    return [pool[(i + k) % len(pool)] for k in range(frames)]


def load_thread(
    tally: Tally, base: str, photos: list[tuple[str, bytes]], args: argparse.Namespace, n: int
) -> None:
    i = n
    with requests.Session() as client:
        # A logged-in cookie would make every later POST need a CSRF token: like curl, keep none.
        client.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        while tally.take():
            tally.record(
                *login_once(client, base, frames_for(i, photos, args.frames), args.timeout)
            )
            i += 1


def run_phase(
    base: str, photos: list[tuple[str, bytes]], args: argparse.Namespace, seconds: float, limit: int
) -> tuple[Tally, float]:
    """``args.concurrency`` threads logging in until ``seconds`` or ``limit`` requests."""
    tally = Tally(max_requests=limit, deadline=time.monotonic() + seconds)
    threads = [
        threading.Thread(target=load_thread, args=(tally, base, photos, args, n), daemon=True)
        for n in range(args.concurrency)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - start


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of an ascending list."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(tally: Tally, elapsed: float) -> dict[str, object]:
    times = sorted(tally.latencies_ms)
    latency = (
        {
            "p50": round(percentile(times, 50), 1),
            "p95": round(percentile(times, 95), 1),
            "p99": round(percentile(times, 99), 1),
            "mean": round(statistics.fmean(times), 1),
            "max": round(times[-1], 1),
        }
        if times
        else {}
    )
    return {
        "requests": tally.sent,
        "logins_ok": len(times),
        "errors": dict(sorted(tally.errors.items())),
        "error_count": sum(tally.errors.values()),
        "seconds": round(elapsed, 2),
        "logins_per_s": round(len(times) / elapsed, 2) if elapsed > 0 else 0.0,
        "latency_ms": latency,
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    if args.concurrency < 1 or args.duration <= 0 or args.max_requests < 1:
        raise BenchError("--concurrency, --duration and --max-requests must be positive")
    base = require_loopback(args.base_url)
    if args.challenge:
        from bench.challenge_load import run_challenge  # imports cv2: only for this mode

        return run_challenge(base, args)
    photos = load_photos(args.photos)
    user = register(base, photos, args.timeout)
    if args.warmup:
        warm, _ = run_phase(base, photos, args, args.timeout, args.warmup)
        if warm.stopped:
            raise BenchError(
                "the service asks for a head-turn challenge: start it with "
                "FACE_LOGIN_LIVENESS_LOGIN=false"
            )
    tally, elapsed = run_phase(base, photos, args, args.duration, args.max_requests)
    result: dict[str, object] = {
        "base_url": base,
        "concurrency": args.concurrency,
        "frames": args.frames,
        "duration_limit_s": args.duration,
        "max_requests": args.max_requests,
        "user": user,
        **summary(tally, elapsed),
    }
    if tally.stopped:
        result["stopped"] = tally.stopped
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except BenchError as error:
        print(f"load: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 1 if result.get("stopped") else 0


if __name__ == "__main__":
    raise SystemExit(main())
