"""Presentation attacks made from still photos, for the liveness study and tests.

A flat photo turned like a door in front of a pinhole camera (shifted and scaled as a hand
would), one frame repeated, and two sequences spliced into one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from face_engine.liveness import FrameObservation, observation
from face_engine.types import BGRImage
from face_engine.vision.pipeline import FaceEngine


@dataclass(frozen=True, slots=True)
class DoorTurn:
    """How a flat photo is moved: angles in degrees about the vertical axis.

    The angle follows ``max_angle * sin(2 pi t)`` over the clip, so it swings one way, back
    through zero and the other way (``first`` "left" means the photo's right edge first comes
    towards the camera, which moves a real face's nose towards the image's left).
    ``hinge`` is where the axis crosses the photo, -0.5 (left edge) to 0.5 (right edge);
    ``distance`` is the photo's distance from the camera in photo widths (smaller means a
    stronger perspective); ``width`` its width in pixels when facing the camera.
    """

    frames: int = 36
    max_angle: float = 60.0
    first: str = "left"
    hinge: float = 0.0
    distance: float = 2.0
    width: float = 300.0
    shift: float = 60.0
    scale: float = 0.15
    size: tuple[int, int] = (640, 480)
    noise: float = 2.0
    seed: int = 0


def _background(size: tuple[int, int], rng: np.random.Generator) -> BGRImage:
    """A smooth, faintly textured wall, so frames differ only where something moves."""
    width, height = size
    coarse = rng.uniform(90, 170, size=(6, 8, 3)).astype(np.float32)
    wall = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(wall, 0, 255).astype(np.uint8)


def door_turn(photo: BGRImage, turn: DoorTurn = DoorTurn()) -> list[BGRImage]:
    """Frames of ``photo`` (the whole picture is the flat card) turned as ``turn`` says."""
    rng = np.random.default_rng(turn.seed)
    width, height = turn.size
    focal = turn.distance * turn.width
    card_w = turn.width
    card_h = card_w * photo.shape[0] / photo.shape[1]
    rows, cols = photo.shape[:2]
    src = np.array([[0, 0], [cols, 0], [cols, rows], [0, rows]], dtype=np.float32)
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * [card_w, card_h]
    wall = _background(turn.size, rng)
    sign = -1.0 if turn.first == "left" else 1.0
    phase = rng.uniform(0, 2 * math.pi, size=3)
    frames = []
    for i in range(turn.frames):
        t = i / max(1, turn.frames - 1)
        angle = math.radians(sign * turn.max_angle * math.sin(2 * math.pi * t))
        depth = focal * (1.0 + turn.scale * math.sin(2 * math.pi * t + phase[0]))
        centre_x = width / 2 + turn.shift * math.sin(2 * math.pi * t + phase[1])
        centre_y = height / 2 + 0.5 * turn.shift * math.sin(2 * math.pi * t + phase[2])
        hinge_x = turn.hinge * card_w
        x = hinge_x + (corners[:, 0] - hinge_x) * math.cos(angle)
        z = depth + (corners[:, 0] - hinge_x) * math.sin(angle)
        dst = np.stack([centre_x + focal * x / z, centre_y + focal * corners[:, 1] / z], axis=1)
        matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
        frame = wall.copy()
        cv2.warpPerspective(photo, matrix, turn.size, dst=frame, borderMode=cv2.BORDER_TRANSPARENT)
        frames.append(_add_noise(frame, turn.noise, rng))
    return frames


def _add_noise(frame: BGRImage, sigma: float, rng: np.random.Generator) -> BGRImage:
    if sigma <= 0:
        return frame
    noisy = frame.astype(np.float32) + rng.normal(0.0, sigma, size=frame.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def repeated(frame: BGRImage, count: int = 30, noise: float = 0.0, seed: int = 0) -> list[BGRImage]:
    """``frame`` ``count`` times, with optional sensor-like noise (sigma in grey levels)."""
    rng = np.random.default_rng(seed)
    return [_add_noise(frame, noise, rng) for _ in range(count)]


def spliced(
    first: Sequence[BGRImage], second: Sequence[BGRImage], at: float = 0.5
) -> list[BGRImage]:
    """The first ``at`` fraction of ``first`` followed by the rest of ``second``."""
    cut_a = round(len(first) * at)
    cut_b = round(len(second) * at)
    return [*first[:cut_a], *second[cut_b:]]


def face_card(
    photo: BGRImage, box: tuple[float, float, float, float], margin: float = 1.0
) -> BGRImage:
    """The photo cropped around a face box with ``margin`` box sides on each side."""
    x, y, w, h = box
    x0 = max(0, int(x - margin * w))
    y0 = max(0, int(y - margin * h))
    x1 = min(photo.shape[1], int(x + w + margin * w))
    y1 = min(photo.shape[0], int(y + h + margin * h))
    return photo[y0:y1, x0:x1].copy()


def observe(
    engine: FaceEngine, frames: Iterable[BGRImage], min_size: float = 0.0
) -> list[FrameObservation]:
    """Full detection on every frame (the study's reference; the service tracks instead)."""
    ratio = engine.settings.engine.multiple_faces_ratio
    return [
        observation(i, image, engine.detector.detect(image, min_size=min_size), ratio)
        for i, image in enumerate(frames)
    ]
