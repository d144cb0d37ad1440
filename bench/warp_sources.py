"""What bench/warp_attacks.py draws from: victim photos (``faces/``), real turns
(``liveness/``), the trajectories the warps follow and the resampling of real clips."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from bench import warp_families as wf
from face_engine.liveness import yaw_proxy
from face_engine.vision.pipeline import FaceEngine

FRAME = (512, 384)
"""Width, height of an attack's frames (a webcam's, a little smaller)."""
FRONTAL = 0.06
NATIVE_FPS = 10.0
"""Frames per second of a clip in ``../shared/liveness`` when nothing else is known."""
CLIP_FPS = {"liveportrait_d3_turns": 5.0}
"""liveportrait's frames are every 6th of a 30 frames/s video (its README)."""


@dataclass(frozen=True, eq=False)
class Victim:
    """One photo placed in a webcam frame: the frame, its five points, the photo's bytes
    (the victim's account is registered from them)."""

    frame: np.ndarray
    landmarks: NDArray[np.float32]
    registration: bytes


@dataclass(frozen=True, eq=False)
class Photo:
    image: np.ndarray
    landmarks: NDArray[np.float32]
    data: bytes


@dataclass(frozen=True, eq=False)
class Sources:
    photos: list[Photo]
    trajectories: dict[str, list[NDArray[np.float32]]]
    clips: dict[str, list[bytes]]
    clip_photos: dict[str, bytes]
    engine: FaceEngine

    @classmethod
    def load(
        cls,
        engine: FaceEngine,
        root: Path,
        clips: tuple[str, ...],
        photos_glob: str = "**/people/*/*",
    ) -> Sources:
        """Frontal one-face photos under ``root/faces`` (``photos_glob``) and the clips."""
        photos = []
        for path in sorted((root / "faces").glob(photos_glob)):
            if path.suffix.lower() not in (".jpg", ".png"):
                continue
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            faces = engine.detect(image) if image is not None else []
            if len(faces) != 1:
                continue
            points = np.asarray(faces[0].landmarks, np.float32)
            eye = float(np.linalg.norm(points[1] - points[0]))
            if eye >= 28 and abs(yaw_proxy(points)) < 0.08:
                photos.append(Photo(image, points, path.read_bytes()))
        trajectories, raw, frontal = {}, {}, {}
        for name in clips:
            files = sorted((root / "liveness" / name).glob("*.jpg"))
            raw[name] = [p.read_bytes() for p in files]
            track = []
            for p in files:
                found = engine.detect(cv2.imread(str(p)))
                if found:
                    track.append(np.asarray(found[0].landmarks, np.float32))
            trajectories[name] = track
            rc = [abs(yaw_proxy(t)) for t in track]
            frontal[name] = raw[name][int(np.argmin(rc))]
        return cls(photos, trajectories, raw, frontal, engine)


def place(engine: FaceEngine, photo: Photo, rng: np.random.Generator) -> Victim:
    """The photo scaled so the eyes are 40-60 px apart, the face near the frame's centre."""
    width, height = FRAME
    points = photo.landmarks
    eye = float(np.linalg.norm(points[1] - points[0]))
    scale = float(rng.uniform(40, 60)) / eye
    centre = points.mean(axis=0)
    goal = np.array([width / 2, height * 0.48]) + rng.uniform(-30, 30, 2)
    matrix = np.array(
        [[scale, 0, goal[0] - scale * centre[0]], [0, scale, goal[1] - scale * centre[1]]]
    )
    frame = cv2.warpAffine(photo.image, matrix, FRAME, borderMode=cv2.BORDER_REPLICATE)
    found = engine.detect(frame)
    if found:
        main = max(found, key=lambda f: f.size)
        landmarks = np.asarray(main.landmarks, np.float32)
    else:
        landmarks = (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    return Victim(np.asarray(frame, np.uint8), landmarks, photo.data)


def driven_targets(
    trajectory: list[NDArray[np.float32]],
    victim: NDArray[np.float32],
    steps: tuple[str, ...],
    count: int,
    rng: np.random.Generator,
) -> list[NDArray[np.float32]]:
    """``count`` target five-point sets: the real turn's excursion to each step's side, in
    the challenge's order, carried onto the victim's face by a similarity and amplified."""
    rc = np.array([yaw_proxy(t) for t in trajectory])
    frontal = trajectory[int(np.argmin(np.abs(rc)))]
    similarity, _ = cv2.estimateAffinePartial2D(frontal, victim)
    base = frontal @ similarity[:, :2].T + similarity[:, 2]
    moved: list[NDArray[np.float64]] = []
    for step in steps:
        extreme = int(np.argmin(rc) if step == "left" else np.argmax(rc))
        before = [i for i in range(extreme) if abs(rc[i]) < FRONTAL]
        after = [i for i in range(extreme + 1, len(rc)) if abs(rc[i]) < FRONTAL]
        span = range(before[-1] if before else 0, (after[0] if after else len(rc) - 1) + 1)
        # As strong a turn as an attacker wants: the excursion's peak |rc| made 0.22-0.45.
        gain = float(rng.uniform(0.22, 0.45)) / max(abs(float(rc[extreme])), 0.05)
        for i in span:
            mapped = trajectory[i] @ similarity[:, :2].T + similarity[:, 2]
            moved.append(victim + gain * (mapped - base))
    track = np.stack(moved)
    positions = np.linspace(0, len(track) - 1, count)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, len(track) - 1)
    w = (positions - low)[:, None, None]
    sampled = track[low] * (1 - w) + track[high] * w
    return [np.asarray(t, np.float32) for t in sampled]


def clip_frames(clip: list[bytes]) -> list[bytes]:
    return list(clip)


def resample_clip(
    clip: list[bytes], rng: np.random.Generator, native_fps: float = NATIVE_FPS
) -> list[bytes]:
    """A real clip as another camera would send it: 5-15 frames/s (from about 10), JPEG
    quality 60-95, 0.5-1x scale, a small shift and faint noise."""
    fps = float(rng.uniform(5, 15))
    picks = np.floor(np.arange(float(rng.uniform(0, 1)), len(clip), native_fps / fps)).astype(int)
    scale = float(rng.uniform(0.5, 1.0))
    shift = rng.uniform(-8, 8, 2)
    quality = int(rng.integers(60, 96))
    noise = float(rng.uniform(0.5, 2.0))
    out = []
    for i in picks[picks < len(clip)]:
        frame = cv2.imdecode(np.frombuffer(clip[i], np.uint8), cv2.IMREAD_COLOR)
        jitter = shift + rng.uniform(-1.5, 1.5, 2)
        frame = wf.shift_scale(frame, float(jitter[0]), float(jitter[1]), 1.0)
        size = (round(frame.shape[1] * scale), round(frame.shape[0] * scale))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        out.append(wf.camera(frame, noise, quality, rng))
    return out
