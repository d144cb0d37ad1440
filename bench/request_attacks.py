"""Costly-request attacks against a running service, and a real login's latency meanwhile.

    python -m bench.request_attacks http://127.0.0.1:8000 [--logins 5] [--streams 8]

Each client is an address of its own: with ``--direct`` a loopback address 127.x.y.z as the
TCP source (the service as shipped, as it sees real peers); otherwise an X-Forwarded-For the
service must believe (``FACE_LOGIN_APP_TRUSTED_PROXIES=1``; behind a proxy the per-address
upload rate is off). Start the service with ``FACE_LOGIN_LIVENESS_REPLAY_KEEP=0``: the
genuine person logs in with the same recording every time, which the replay memory refuses.

The attacker is one address, within the shipped rate limits and ``client_concurrency``,
sending ``--streams`` requests at a time (a short pause after a 429; with ``--rotate``, a
new address whenever one is rate limited instead); the genuine person logs in from
addresses of their own (one per login, so the login rate limit of one address does not end
the measurement). Liveness stays on: the person registers with the frames of a real head
turn (``$FACE_TEST_DATA/../liveness/intel_female_headturn``) and each
login plays a challenge with them.

Attacks (the issue's), each from an address of its own: ``big_png`` (60 flat 2000x2000 PNG
frames, about 17 KB each), ``mosaic`` (60 frames of a 640x480 mosaic of about 100 faces),
``faceless`` (60 frames of noise), ``preview_flood`` (previews of the mosaic). For each, it
prints the genuine login's median latency against the quiet median measured in the same run,
the ratio, and the attacker's answers by status and error code, as JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import multiprocessing.queues
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import requests
import requests.adapters

ROOT = Path(__file__).resolve().parent.parent
FACE_DATA = Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared" / "faces"))
HEAD_TURN = FACE_DATA.parent / "liveness" / "intel_female_headturn"
FRAMES = 60
Frames = list[bytes]


def big_png_frames(count: int = FRAMES, side: int = 2000) -> Frames:
    """Flat grey PNGs of ``side`` x ``side``: tiny files, 4 megapixels each to decode."""
    flat = np.full((side, side, 3), 128, np.uint8)
    return [cv2.imencode(".png", flat)[1].tobytes()] * count


def mosaic_image(faces: Path = FACE_DATA, tile: int = 48) -> np.ndarray:
    """A 640x480 frame tiled with the middle of every portrait under ``faces``/people."""
    portraits = sorted((faces / "people").glob("*/*.jpg"))
    crops = []
    for path in portraits:
        image = cv2.imread(str(path))
        if image is None:
            continue
        h, w = image.shape[:2]
        side = int(min(h, w) * 0.6)
        y, x = (h - side) // 2, (w - side) // 2
        crops.append(cv2.resize(image[y : y + side, x : x + side], (tile, tile)))
    if not crops:
        raise SystemExit(f"no portraits under {faces / 'people'}")
    mosaic = np.zeros((480, 640, 3), np.uint8)
    k = 0
    for top in range(0, 480 - tile + 1, tile + 2):
        for left in range(0, 640 - tile + 1, tile + 1):
            mosaic[top : top + tile, left : left + tile] = crops[k % len(crops)]
            k += 1
    return mosaic


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    return bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1])


def mosaic_frames(count: int = FRAMES) -> Frames:
    return [jpeg(mosaic_image())] * count


def faceless_frames(count: int = FRAMES, seed: int = 0) -> Frames:
    """Noise at a webcam's size: nothing to find, everything to search."""
    rng = np.random.default_rng(seed)
    return [jpeg(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) for _ in range(count)]


def head_turn_frames(folder: Path = HEAD_TURN) -> Frames:
    """A real head turn (left, right, left again: both step orders pass)."""
    frames = [path.read_bytes() for path in sorted(folder.glob("*.jpg"))]
    if not frames:
        raise SystemExit(f"no head-turn frames in {folder}")
    return frames


def form(frames: Frames) -> list[tuple[str, tuple[str, io.BytesIO, str]]]:
    return [("image", (f"{i:03d}.jpg", io.BytesIO(f), "image/jpeg")) for i, f in enumerate(frames)]


class SourceAddress(requests.adapters.HTTPAdapter):
    """Connections from one local address (127.x.y.z: every loopback address is this
    machine's), so the service sees it as the peer, with no proxy header to believe."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


DIRECT = os.environ.get("REQUEST_ATTACKS_DIRECT") == "1"
"""Clients as real loopback peers (``--direct``) instead of X-Forwarded-For."""


class Client:
    """Requests from one address, on a session of its own: X-Forwarded-For (the service
    started with trusted_proxies = 1), or with ``--direct`` that address as the TCP source
    (127.x.y.z; the service as shipped, no proxy)."""

    def __init__(self, base: str, address: str, timeout: float = 120.0) -> None:
        self.base = base
        self.session = requests.Session()
        if DIRECT:
            local = "127." + address.split(".", 1)[1]
            self.session.mount("http://", SourceAddress(local))
        else:
            self.session.headers["X-Forwarded-For"] = address
        self.timeout = timeout

    def challenge(self) -> str | None:
        r = self.session.post(f"{self.base}/api/challenge", timeout=self.timeout)
        return str(r.json()["challenge"]) if r.status_code == 200 else None

    def send(self, url: str, frames: Frames, **fields: str) -> requests.Response:
        return self.session.post(
            f"{self.base}{url}", files=form(frames), data=fields, timeout=self.timeout
        )

    def close(self) -> None:
        self.session.close()


def answer(r: requests.Response) -> str:
    try:
        return f"{r.status_code} {r.json().get('error', 'ok')}"
    except ValueError:
        return str(r.status_code)


def register(base: str, username: str, frames: Frames, address: str = "10.77.0.1") -> None:
    client = Client(base, address)
    try:
        challenge = client.challenge()
        if challenge is None:
            raise SystemExit("no challenge for the registration")
        r = client.send("/api/register", frames, username=username, challenge=challenge)
        if r.status_code != 201 and answer(r) != "409 face_already_registered":
            raise SystemExit(f"registration failed: {answer(r)}")
    finally:
        client.close()


def genuine_login(base: str, frames: Frames, address: str) -> tuple[float, str]:
    """One head-turn login from ``address``: (seconds from the challenge to the answer, the
    answer)."""
    client = Client(base, address)
    try:
        started = time.perf_counter()
        challenge = client.challenge()
        if challenge is None:
            return time.perf_counter() - started, "no challenge"
        r = client.send("/api/login", frames, challenge=challenge)
        return time.perf_counter() - started, answer(r)
    finally:
        client.close()


def attack_requests(base: str, name: str) -> Callable[[Client], requests.Response]:
    """One request of attack ``name``, sent by a client."""
    if name == "preview_flood":
        preview = [jpeg(mosaic_image())]
        return lambda c: c.send("/api/preview", preview)
    frames = {"big_png": big_png_frames, "mosaic": mosaic_frames, "faceless": faceless_frames}[
        name
    ]()

    def login(client: Client) -> requests.Response:
        challenge = client.challenge()
        return client.send("/api/login", frames, **({"challenge": challenge} if challenge else {}))

    return login


class Attack:
    """``streams`` threads sending attack requests from one address until stopped, in a
    process of their own: building and sending megabytes of frames must not take the
    measuring process's interpreter lock from the genuine login it times."""

    def __init__(self, base: str, name: str, streams: int, address: str, rotate: bool) -> None:
        self.args = (base, name, streams, address, rotate)
        self.answers: Counter[str] = Counter()
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._results: multiprocessing.queues.Queue[dict[str, int]] = context.Queue()
        self._process = context.Process(
            target=_attack_process, args=(*self.args, self._stop, self._results), daemon=True
        )

    def __enter__(self) -> Attack:
        self._process.start()
        time.sleep(3.0)  # started (the process imports and builds its frames) and under way
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.answers.update(self._results.get(timeout=300))
        self._process.join(timeout=60)


def _attack_process(
    base: str, name: str, streams: int, address: str, rotate: bool, stop: Any, results: Any
) -> None:
    request = attack_requests(base, name)
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    addresses = iter(range(1, 1_000_000))

    def run() -> None:
        client = Client(base, address)
        try:
            while not stop.is_set():
                try:
                    got = answer(request(client))
                except requests.RequestException as e:
                    got = type(e).__name__
                with lock:
                    answers[got] += 1
                    n = next(addresses)
                if got == "429 rate_limited" and rotate:
                    client.close()
                    client = Client(base, f"10.{100 + n // 65536}.{n // 256 % 256}.{n % 256}")
                elif got.startswith("429"):
                    time.sleep(0.2)  # told to wait: back off a little, then on again
        finally:
            client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(dict(answers))


def logins(base: str, frames: Frames, count: int, tag: str) -> tuple[list[float], Counter[str]]:
    seconds, answers = [], Counter[str]()
    for k in range(count):
        took, got = genuine_login(base, frames, f"10.88.{tag}.{k + 1}")
        answers[got] += 1
        if got == "200 ok":
            seconds.append(took)
    return seconds, answers


def measure(
    base: str, attacks: list[str], count: int = 5, streams: int = 8, rotate: bool = False
) -> dict[str, dict[str, object]]:
    """The genuine login's latency quiet and under each attack (one registration first)."""
    frames = head_turn_frames()
    register(base, f"ana{int(time.time())}", frames)
    genuine_login(base, frames, "10.88.0.250")  # warm every path once
    quiet, quiet_answers = logins(base, frames, count, "0")
    baseline = statistics.median(quiet) if quiet else float("nan")
    report: dict[str, dict[str, object]] = {
        "quiet": {"median_s": round(baseline, 3), "genuine": dict(quiet_answers)}
    }
    for number, name in enumerate(attacks, start=1):
        address = f"10.66.{int(time.time()) % 256}.{number}"  # fresh limits every run
        with Attack(base, name, streams, address, rotate) as attack:
            seconds, answers = logins(base, frames, count, str(number))
        median = statistics.median(seconds) if seconds else float("nan")
        report[name] = {
            "median_s": round(median, 3),
            "ratio_to_quiet": round(median / baseline, 2),
            "genuine": dict(answers),
            "attacker": dict(attack.answers),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_attacks")
    parser.add_argument("base_url")
    parser.add_argument("--logins", type=int, default=5, help="genuine logins per phase")
    parser.add_argument("--streams", type=int, default=8, help="attack requests in flight")
    parser.add_argument(
        "--attacks", default="big_png,mosaic,faceless,preview_flood", help="comma-separated"
    )
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="a new attacker address whenever one is rate limited (what the request costs, "
        "not what the rate limits stop)",
    )
    parser.add_argument(
        "--direct",
        action="store_true",
        help="clients as loopback peers 127.x.y.z (service as shipped, trusted_proxies = 0)",
    )
    args = parser.parse_args(argv)
    if args.direct:
        os.environ["REQUEST_ATTACKS_DIRECT"] = "1"  # the attack processes read it too
        global DIRECT
        DIRECT = True
    report = measure(
        args.base_url.rstrip("/"), args.attacks.split(","), args.logins, args.streams, args.rotate
    )
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
