"""A 40-frame 640x480 head-turn challenge login, end to end in the service's code path.

    python -m bench.challenge_bench [--runs 10] [--frames 40] [--json]

The frames are a real head turn (``../shared/liveness/intel_female_headturn``) scaled so the
face is webcam-sized (about 150 px) and cropped to 640x480 JPEGs, played forwards then
backwards to the frame count. One account is registered from them; each run asks for a
challenge in the clip's order and logs in with ``Accounts.login``: decoding, detection and
tracking, the liveness checks, embedding the identity frames, matching. Beside it, in the same
process: the naive cost of the same frames, a full detection on every one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from face_engine import load_settings, open_accounts

CLIP = "intel_female_headturn"
DEFAULT_LIVENESS = Path(__file__).resolve().parents[1].parent / "shared" / "liveness"


def webcam_frames(folder: Path, count: int) -> list[bytes]:
    """``count`` 640x480 JPEGs of the clip, the face about 150 px, forwards then backwards,
    with a camera's faint sensor noise (so no two frames are the same picture)."""
    frames = [cv2.imread(str(path)) for path in sorted(folder.glob("*.jpg"))]
    if not frames or any(frame is None for frame in frames):
        raise FileNotFoundError(f"no readable frames in {folder}")
    order = frames + frames[-2:0:-1]
    rng = np.random.default_rng(0)
    return [webcam_frame(order[k % len(order)], rng) for k in range(count)]


def webcam_frame(frame: np.ndarray, rng: np.random.Generator) -> bytes:
    """One clip frame as a 640x480 webcam JPEG: scaled 2.4x (the face about 150 px), the
    middle cut out, faint sensor noise added."""
    big = cv2.resize(frame, None, fx=2.4, fy=2.4, interpolation=cv2.INTER_CUBIC)
    top = max(0, (big.shape[0] - 480) // 2)
    left = max(0, (big.shape[1] - 640) // 2)
    crop = big[top : top + 480, left : left + 640].astype(np.float32)
    crop = np.clip(crop + rng.normal(0.0, 2.0, crop.shape), 0, 255).astype(np.uint8)
    return bytes(cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())


def mirrored(frames: list[bytes]) -> list[bytes]:
    flipped = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR)[:, ::-1] for f in frames]
    return [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes() for f in flipped]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--liveness", type=Path, default=None, help="the liveness clips folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    faces = os.environ.get("FACE_TEST_DATA")
    liveness = args.liveness or (Path(faces).parent / "liveness" if faces else DEFAULT_LIVENESS)
    frames = webcam_frames(liveness / CLIP, args.frames)
    with tempfile.TemporaryDirectory(prefix="challenge-bench-") as data:
        settings = load_settings(None, {**os.environ, "FACE_LOGIN_DATA": data})
        accounts = open_accounts(settings)

        def challenge(steps: tuple[str, ...]) -> str:
            while True:
                issued = accounts.challenge("bench")
                if issued.steps == steps:
                    return issued.id

        # Registered from the mirrored frames (a turn the logins never repeat), so each login
        # runs the replay comparison against the registration's signature and passes it.
        user = accounts.register("ana", mirrored(frames), challenge(("right", "left")), "bench")
        accounts.rebuild()
        records = accounts.replays.records
        kept = records.recent(user.id, since=0.0)
        keep = accounts.liveness.replay_keep

        def forget_logins() -> None:
            """The same frames log in every run: drop what the last run remembered."""
            now = time.time()
            records.remember(user.id, b"", when=now, keep=0, since=0.0)  # drops them all
            for k, raw in enumerate(kept, 1):  # LMDB keys them by time: one apart each
                records.remember(user.id, raw, when=now + k / 1000, keep=keep, since=0.0)

        for _ in range(2):  # warm-up
            forget_logins()
            accounts.login(frames, None, challenge(("left", "right")), "bench")
        ours, naive = [], []
        for _ in range(args.runs):
            forget_logins()
            issued = challenge(("left", "right"))
            start = time.perf_counter()
            match = accounts.login(frames, None, issued, "bench")
            ours.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            for data_bytes in frames:
                accounts.engine.comparable_faces(accounts.engine.decode(data_bytes))
            naive.append((time.perf_counter() - start) * 1000)
        accounts.store.close()
    result = {
        "frames": args.frames,
        "frame_size": "640x480",
        "runs": args.runs,
        "matched": match.username,
        "challenge_login_ms_p50": round(statistics.median(ours), 1),
        "challenge_login_ms_max": round(max(ours), 1),
        "full_detection_every_frame_ms_p50": round(statistics.median(naive), 1),
        "ratio": round(statistics.median(ours) / statistics.median(naive), 3),
        "goal_ms": 150,
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        for name, value in result.items():
            print(f"{name:<36}{value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
