"""Head-pose proxies from MTCNN's five landmarks (and its box), in the frame's pixel units.

Landmark rows follow ``face_engine.types.LANDMARK_NAMES``: left_eye (image left), right_eye,
nose, mouth_left, mouth_right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from face_engine.types import Box

__all__ = ["Box", "face_proportion", "yaw_proxy"]


def _eye_frame(landmarks: NDArray[np.floating]) -> tuple[NDArray[np.float64], float]:
    """Unit vector along the eye line (image left to right) and the eye distance; the image's
    x axis and 0 when the detector put both eyes on one point (nothing to measure)."""
    points = np.asarray(landmarks, dtype=np.float64)
    along = points[1] - points[0]
    distance = float(np.hypot(along[0], along[1]))
    if distance <= 0.0:
        return np.array([1.0, 0.0]), 0.0
    return along / distance, distance


def yaw_proxy(landmarks: NDArray[np.floating]) -> float:
    """``rc``: the nose's offset from the eye midpoint along the eye line / the eye distance.

    Positive when the nose is towards the image's right, negative towards its left; head roll
    does not count. About 0 for a frontal face; a real head reaches 0.15-0.2 at about 20
    degrees of yaw and 0.3-0.4 at about 40.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    unit, distance = _eye_frame(points)
    if distance == 0.0:
        return 0.0  # degenerate landmarks show no turn (and never a 500 on the preview)
    offset = points[2] - (points[0] + points[1]) / 2.0
    return float(np.dot(offset, unit) / distance)


def face_proportion(landmarks: NDArray[np.floating], box: Box) -> float:
    """Width / height of the face, which yaw foreshortens by cos(yaw).

    Width: the mean of the eye distance and the mouth width; height: the geometric mean of
    the eye-to-mouth distance across the eye line and the box height (each alone moves with
    expressions or with the box's regression; their mean is steadier).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    unit, eye_distance = _eye_frame(points)
    mouth_width = float(np.hypot(*(points[4] - points[3])))
    across = np.array([-unit[1], unit[0]])
    eyes_to_mouth = float(np.dot((points[3] + points[4] - points[0] - points[1]) / 2.0, across))
    height = math.sqrt(max(eyes_to_mouth, 1e-6) * max(box[3], 1e-6))
    return (eye_distance + mouth_width) / 2.0 / height


def step_frames(
    seen: Sequence[bool], yaws: Sequence[float | None], steps: Sequence[str]
) -> tuple[int, dict[str, int]] | None:
    """The frames a turn's pixels are compared on: the most frontal frame with a face, and per
    step the one turned furthest towards its side (the nose to the image's left for "left");
    None when no frame has both a face and a yaw."""
    usable = [i for i, (s, y) in enumerate(zip(seen, yaws, strict=True)) if s and y is not None]
    if not usable:
        return None
    rc = np.array([yaws[i] for i in usable], np.float64)
    frontal = usable[int(np.argmin(np.abs(rc)))]
    turned = {
        step: usable[int(np.argmin(rc) if step == "left" else np.argmax(rc))]
        for step in dict.fromkeys(steps)
    }
    return frontal, turned
