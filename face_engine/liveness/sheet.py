"""Is the turned face a remap of the frontal one? A photo warped in software (a thin-plate or
mesh warp, a squeeze) only moves the frontal frame's pixels: dense optical flow from the turned
frame back to the frontal one explains the turned face almost exactly, shading and all. A head
that turns shows what the frontal frame did not (the near side comes into view, the nose hides
part of the far cheek, the light falls differently): the flow leaves a residual.

Figures and the threshold: docs/liveness.md (``bench/warp_attacks.py``, ``bench/sheet_study.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.liveness.yaw import Box, step_frames
from face_engine.types import BGRImage

SIDE = 96
"""The face box's side, in pixels, once both crops are scaled for the flow."""
MARGIN = 0.35
"""Crop margin around the face box, in box sides (some background and the face's edges)."""
BLUR = 1.5
"""Gaussian sigma (pixels at SIDE) on both images before differencing: sensor noise and JPEG
blocks count for little, missing or new structure for a lot."""


def _crop(image: BGRImage, box: Box, scale: float) -> NDArray[np.uint8]:
    """The face box and MARGIN around it, scaled by ``scale``, grey, contrast-normalised."""
    size = round(SIDE * (1 + 2 * MARGIN))
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    matrix = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]])
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    crop = cv2.warpAffine(
        grey, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    ).astype(np.float32)
    crop = (crop - crop.mean()) / (crop.std() + 1.0) * 48.0 + 128.0
    return np.asarray(np.clip(crop, 0, 255), np.uint8)


def remap_residual(frontal: BGRImage, frontal_box: Box, turned: BGRImage, turned_box: Box) -> float:
    """Mean absolute grey difference (0-255, after contrast normalisation) inside the turned
    face's box between the turned frame and the frontal frame remapped onto it by dense
    optical flow (DIS, medium preset), both faces scaled to SIDE px."""
    scale = SIDE / max(float(np.sqrt(turned_box[2] * turned_box[3])), 1.0)
    a = _crop(turned, turned_box, scale)
    b = _crop(frontal, frontal_box, scale)
    flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(
        a, b, np.zeros((*a.shape, 2), np.float32)
    )
    ys, xs = np.mgrid[0 : a.shape[0], 0 : a.shape[1]].astype(np.float32)
    warped = cv2.remap(
        b, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    a_soft = cv2.GaussianBlur(a, (0, 0), BLUR).astype(np.float32)
    b_soft = cv2.GaussianBlur(warped, (0, 0), BLUR).astype(np.float32)
    lo, hi = round(SIDE * (MARGIN + 0.1)), round(SIDE * (MARGIN + 0.9))
    return float(np.abs(a_soft[lo:hi, lo:hi] - b_soft[lo:hi, lo:hi]).mean())


def step_residuals(
    frames: Sequence[BGRImage],
    boxes: list[Box | None],
    yaws: list[float | None],
    steps: list[str],
) -> dict[str, float]:
    """Per step, ``remap_residual`` from the most frontal frame to the frame turned furthest
    towards that step's side (the nose to the image's left for "left")."""
    chosen = step_frames([b is not None for b in boxes], yaws, steps)
    if chosen is None:
        return {}
    frontal, turned = chosen
    found: dict[str, float] = {}
    for step, i in turned.items():
        box_f, box_t = boxes[frontal], boxes[i]
        assert box_f is not None and box_t is not None
        found[step] = remap_residual(frames[frontal], box_f, frames[i], box_t)
    return found
