"""``python -m bench.load URL --challenge``: logins that play the head-turn challenge, against a
service with the shipped settings (liveness on for login and registration).

It registers its users from real head-turn frames (``../shared/liveness``, its README):
``ana`` from ``intel_female_headturn`` (as 640x480 webcam frames, the face about 150 px,
``bench/challenge_bench.py``'s transform) and, when it passes, the woman of
``liveportrait_d3_turns`` (her clip as it is), so the gallery is not a single face. Each login
then asks ``POST /api/challenge`` and sends frames in the order it asks: frames 11-23 of the
intel clip turn to the image's right then its left (one turn each way, no third), so
``right, left`` gets them forwards and ``left, right`` the same frames backwards (real
frames reordered, as the liveness tests do; of the cuts tried, this one keeps both orders
clear of the nose-depth limit: depth 0.52-1.95 against 0.4). 13 frames a login: fewer than
the page's 4 s of capture, so a login here costs less than a camera's. A login's latency is
both requests, challenge and login.
Before the load, one login sent in the wrong order must fail ``wrong_order`` (the order is
really checked, and the frames really follow it).

For each ``--levels`` concurrency (default 1, 4, 8) it logs in from that many kept-alive
connections for ``--duration`` seconds or ``--max-requests`` logins, and prints JSON: per level
challenge logins/s, p50/p95/p99 of the successful ones, and every other answer counted.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path

import cv2
import numpy as np
import requests

from bench.challenge_bench import webcam_frame
from bench.load import FACE_DATA, BenchError, Tally, error_code, login_outcome, summary

LIVENESS = FACE_DATA.parent / "liveness"
CLIP = "intel_female_headturn"
SECOND_CLIP = "liveportrait_d3_turns"
TURN = slice(10, 23)  # rc +0.14 .. +0.40 .. -0.35: right, then left, and not right again
LEFT_RIGHT = ("left", "right")
RIGHT_LEFT = ("right", "left")

Frames = list[tuple[str, tuple[str, bytes, str]]]


def as_files(frames: list[bytes]) -> Frames:
    return [("image", (f"{i:04d}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)]


def read_clip(folder: Path) -> list[np.ndarray]:
    images = [cv2.imread(str(p)) for p in sorted(folder.glob("*.jpg"))]
    if not images or any(image is None for image in images):
        raise BenchError(f"no readable frames in {folder} (set FACE_TEST_DATA or --liveness)")
    return images


def ordered_frames(liveness: Path) -> dict[tuple[str, ...], Frames]:
    """The login frames for each challenge order: the turn forwards, and backwards."""
    rng = np.random.default_rng(0)
    turn = [webcam_frame(image, rng) for image in read_clip(liveness / CLIP)[TURN]]
    return {RIGHT_LEFT: as_files(turn), LEFT_RIGHT: as_files(turn[::-1])}


def ask(client: requests.Session, base: str, timeout: float) -> tuple[str, tuple[str, ...]]:
    """(challenge id, steps); BenchError when the service gives none."""
    r = client.post(f"{base}/api/challenge", timeout=timeout)
    if r.status_code != 200:
        hint = " (raise FACE_LOGIN_APP_CHALLENGE_RATE_LIMIT)" if r.status_code == 429 else ""
        raise BenchError(f"no challenge: {error_code(r)}{hint}")
    body = r.json()
    return str(body["challenge"]), tuple(body["steps"])


def challenge_in(
    client: requests.Session, base: str, steps: tuple[str, ...], timeout: float
) -> str:
    for _ in range(50):
        challenge_id, asked = ask(client, base, timeout)
        if asked == steps:
            return challenge_id
    raise BenchError(f"no challenge in the order {steps} in 50 tries")


def register(base: str, name: str, frames: Frames, timeout: float) -> str:
    """``registered``, ``already registered`` (an earlier run), or BenchError."""
    with requests.Session() as client:
        client.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        username = f"{name}-{uuid.uuid4().hex[:6]}"
        r = client.post(
            f"{base}/api/register",
            data={
                "username": username,
                "challenge": challenge_in(client, base, LEFT_RIGHT, timeout),
            },
            files=frames,
            timeout=timeout,
        )
    if r.status_code == 201:
        return f"registered as {username}"
    code = error_code(r)
    if code == "409:face_already_registered":
        return "already registered"
    hint = " (raise FACE_LOGIN_APP_REGISTER_RATE_LIMIT)" if code.startswith("429") else ""
    raise BenchError(f"registering {name} failed: {code}{hint}")


def login_once(
    client: requests.Session, base: str, frames: dict[tuple[str, ...], Frames], timeout: float
) -> tuple[float | None, str | None]:
    """(latency in ms of challenge + login, None) for a successful login, else (None, error)."""
    start = time.perf_counter()
    try:
        r = client.post(f"{base}/api/challenge", timeout=timeout)
        if r.status_code != 200:
            return None, f"challenge:{error_code(r)}"
        body = r.json()
        steps = tuple(body["steps"])
        if steps not in frames:
            return None, f"challenge:steps_{'_'.join(steps)}"
        r = client.post(
            f"{base}/api/login",
            data={"challenge": body["challenge"]},
            files=frames[steps],
            timeout=timeout,
        )
    except requests.RequestException as error:
        return None, f"exception:{type(error).__name__}"
    return login_outcome(r, start)


def check_order_matters(base: str, frames: dict[tuple[str, ...], Frames], timeout: float) -> None:
    with requests.Session() as client:
        challenge_id = challenge_in(client, base, LEFT_RIGHT, timeout)
        r = client.post(
            f"{base}/api/login",
            data={"challenge": challenge_id},
            files=frames[RIGHT_LEFT],
            timeout=timeout,
        )
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if body.get("reason") != "wrong_order":
        raise BenchError(f"frames in the wrong order were not refused as wrong_order: {body}")


def run_level(
    base: str,
    frames: dict[tuple[str, ...], Frames],
    concurrency: int,
    seconds: float,
    limit: int,
    timeout: float,
    tally: Tally | None = None,
) -> tuple[Tally, float]:
    """``concurrency`` clients logging in until ``seconds`` or ``limit`` logins, counted in
    ``tally`` (a new one when None; a given one brings its own deadline and limit)."""
    tally = tally or Tally(max_requests=limit, deadline=time.monotonic() + seconds)

    def work() -> None:
        with requests.Session() as client:
            client.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            while tally.take():
                tally.record(*login_once(client, base, frames, timeout))

    threads = [threading.Thread(target=work, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - start


def run_challenge(base: str, args: argparse.Namespace) -> dict[str, object]:
    levels = [int(level) for level in args.levels.split(",") if level.strip()]
    if not levels or min(levels) < 1:
        raise BenchError("--levels: comma-separated positive concurrencies, e.g. 1,4,8")
    liveness = args.liveness or LIVENESS
    frames = ordered_frames(liveness)
    users = {"ana": register(base, "ana", frames[LEFT_RIGHT], args.timeout)}
    second = as_files(
        [cv2.imencode(".jpg", f)[1].tobytes() for f in read_clip(liveness / SECOND_CLIP)]
    )
    try:
        users["d3"] = register(base, "d3", second, args.timeout)
    except BenchError as error:
        users["d3"] = f"not registered: {error}"
    check_order_matters(base, frames, args.timeout)
    if args.warmup:
        run_level(base, frames, max(levels), args.timeout, args.warmup, args.timeout)
    results = []
    for level in levels:
        load_before = os.getloadavg()[0]
        tally, elapsed = run_level(
            base, frames, level, args.duration, args.max_requests, args.timeout
        )
        results.append(
            {
                "concurrency": level,
                **summary(tally, elapsed),
                "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    return {
        "base_url": base,
        "mode": "challenge",
        "frames_per_login": len(frames[LEFT_RIGHT]),
        "frame_size": "640x480",
        "duration_limit_s": args.duration,
        "max_requests": args.max_requests,
        "users": users,
        "wrong_order_refused": True,
        "levels": results,
    }
