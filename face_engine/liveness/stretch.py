"""Is the turned face the frontal photo stretched sideways? A 2.5-D relief of one photo turned
about a vertical axis only re-maps each row of the frontal picture: where the relief's surface
slopes towards the camera the frontal pixels are drawn out into horizontal smears, long in x
and sharp in y. A real head turning shows no such smears, and on the side that comes into view
it gains structure of its own (the jaw line, the ear, the hair's edge) instead of losing it.

Two figures per step, from the most frontal frame and the step's most turned frame, both faces
scaled to SIDE px and contrast-normalised: the share of the crop that is horizontal smear
("streak" pixels: the vertical gradient's energy, smoothed along x, at least RATIO times the
horizontal one and above FLOOR), turned minus frontal (``gain``); and the same share in the
band beyond the outer eye and mouth corner on the side that grows (``side_change``).

Figures and thresholds: docs/liveness.md (``bench/warp_attacks.py``). This is a cue of how a
relief is rendered, not of 3-D shape: a relief whose stretched parts are re-textured passes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.liveness.yaw import Box, step_frames
from face_engine.types import BGRImage

SIDE = 64
"""The face box's side, in pixels, once scaled."""
MARGIN = 0.3
"""Crop margin around the face box, in box sides (the cheeks' outline and some background)."""
SMOOTH = 4.0
"""Gaussian sigma along x (pixels at SIDE) of the gradient energies: a smear is long in x."""
RATIO = 10.0
"""A streak pixel's vertical gradient energy is at least this many times its horizontal one."""
FLOOR = 200.0
"""... and at least this (squared grey levels after contrast normalisation): flat skin is not
a streak."""


@dataclass(frozen=True, slots=True)
class Stretch:
    """One step's figures: the streak share's gain over the frontal frame, and its change in
    the growing side's outer band."""

    gain: float
    side_change: float


def _crop(
    image: BGRImage, box: Box, landmarks: NDArray[np.floating]
) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """The face box and MARGIN around it scaled to SIDE px, grey, contrast-normalised, and
    the landmarks in the crop's pixels."""
    size = round(SIDE * (1 + 2 * MARGIN))
    scale = SIDE / max(float(np.sqrt(box[2] * box[3])), 1.0)
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    matrix = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]])
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    crop = cv2.warpAffine(
        grey, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    ).astype(np.float32)
    crop = (crop - crop.mean()) / (crop.std() + 1.0) * 48.0
    points = np.asarray(landmarks, np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return np.asarray(crop, np.float32), points


def _streaks(crop: NDArray[np.float32]) -> NDArray[np.bool_]:
    """Where the crop is a horizontal smear (see RATIO, FLOOR, SMOOTH)."""
    soft = cv2.GaussianBlur(crop, (0, 0), 0.7)
    gx = cv2.Sobel(soft, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(soft, cv2.CV_32F, 0, 1)
    kernel = (int(6 * SMOOTH) | 1, 1)
    jxx = cv2.GaussianBlur(gx * gx, kernel, SMOOTH, sigmaY=0.01)
    jyy = cv2.GaussianBlur(gy * gy, kernel, SMOOTH, sigmaY=0.01)
    return np.asarray((jyy > RATIO * jxx) & (jyy > FLOOR), np.bool_)


def _outer_band(streaks: NDArray[np.bool_], points: NDArray[np.float64], side: str) -> float:
    """The streak share beyond the outer eye and mouth corner on ``side`` of the image, from
    a little above the eyes to a little below the mouth."""
    size = streaks.shape[1]
    eye = float(np.linalg.norm(points[1] - points[0]))
    top = int(max(0.0, min(points[0, 1], points[1, 1]) - 0.8 * eye))
    bottom = int(min(size, max(points[3, 1], points[4, 1]) + 0.6 * eye))
    if side == "right":
        x0, x1 = int(max(points[1, 0], points[4, 0])), size
    else:
        x0, x1 = 0, int(min(points[0, 0], points[3, 0]))
    x0 = min(max(0, x0), size - 1)
    band = streaks[top : max(bottom, top + 1), x0 : min(size, max(x1, x0 + 1))]
    return float(band.mean()) if band.size else 0.0


def stretch(
    frontal: BGRImage,
    frontal_face: tuple[Box, NDArray[np.floating]],
    turned: BGRImage,
    turned_face: tuple[Box, NDArray[np.floating]],
    step: str,
) -> Stretch:
    """The figures of one step (``step`` "left": the nose went to the image's left, so the
    image's right side of the face grows)."""
    a, a_points = _crop(frontal, *frontal_face)
    b, b_points = _crop(turned, *turned_face)
    a_streaks, b_streaks = _streaks(a), _streaks(b)
    grows = "right" if step == "left" else "left"
    side = _outer_band(b_streaks, b_points, grows) - _outer_band(a_streaks, a_points, grows)
    return Stretch(float(b_streaks.mean() - a_streaks.mean()), side)


def step_stretch(
    frames: Sequence[BGRImage],
    faces: list[tuple[Box, NDArray[np.floating]] | None],
    yaws: list[float | None],
    steps: list[str],
) -> dict[str, Stretch]:
    """Per step, ``stretch`` from the most frontal frame to the frame turned furthest towards
    that step's side (the frames ``sheet.step_residuals`` compares)."""
    chosen = step_frames([f is not None for f in faces], yaws, steps)
    if chosen is None:
        return {}
    frontal, turned = chosen
    found: dict[str, Stretch] = {}
    for step, i in turned.items():
        face_f, face_t = faces[frontal], faces[i]
        assert face_f is not None and face_t is not None
        found[step] = stretch(frames[frontal], face_f, frames[i], face_t, step)
    return found
