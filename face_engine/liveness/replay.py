"""Replay signatures: what a passed head turn looked like, to spot the same frames sent again.

A clip's signature is, per frame with a face, a small grey thumbnail of the face aligned on its
five landmarks (so a shift, a rescale or a re-encoding of the frame gives nearly the same
thumbnail) and the frame's yaw proxy (the landmark track). A new clip repeats an old one when
most of its frames have a near twin among the old clip's frames: a thumbnail within
``tolerance`` (mean absolute difference of the contrast-normalised thumbnails) at about the same
yaw. A live person turning again never lands on the same pixels: figures in docs/liveness.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.types import BGRImage

THUMB = 16
"""Side of a frame's thumbnail, in pixels."""
MAX_FRAMES = 24
"""Frames kept per clip (evenly picked): enough to recognise it, small to store."""
_WARP = 48
# Where the five landmarks go in the _WARP x _WARP crop (ArcFace's 112 px template, scaled).
_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float32,
) * (_WARP / 112.0)


@dataclass(frozen=True, eq=False)
class ClipSignature:
    """``thumbs``: (n, THUMB * THUMB) uint8; ``yaws``: (n,) float32, the frames' yaw proxies."""

    thumbs: NDArray[np.uint8]
    yaws: NDArray[np.float32]

    def to_bytes(self) -> bytes:
        count = np.array([len(self.yaws)], np.uint16).tobytes()
        return count + self.thumbs.tobytes() + self.yaws.astype(np.float16).tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ClipSignature:
        count = int(np.frombuffer(raw[:2], np.uint16)[0])
        end = 2 + count * THUMB * THUMB
        thumbs = np.frombuffer(raw[2:end], np.uint8).reshape(count, THUMB * THUMB)
        yaws = np.frombuffer(raw[end : end + 2 * count], np.float16).astype(np.float32)
        return cls(thumbs.copy(), yaws)


def face_thumbnail(image: BGRImage, landmarks: NDArray[np.floating]) -> NDArray[np.uint8]:
    """The face aligned on its five landmarks, as a THUMB x THUMB grey thumbnail (flattened)."""
    points = np.asarray(landmarks, np.float32).reshape(5, 2)
    matrix, _ = cv2.estimateAffinePartial2D(points, _TEMPLATE, method=cv2.LMEDS)
    if matrix is None:
        matrix = cv2.getAffineTransform(points[:3], _TEMPLATE[:3])
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    crop = cv2.warpAffine(grey, matrix, (_WARP, _WARP), flags=cv2.INTER_AREA)
    small = cv2.resize(crop, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    return np.asarray(small, np.uint8).ravel()


def clip_signature(
    frames: Sequence[BGRImage],
    landmarks: list[NDArray[np.floating] | None],
    yaws: list[float | None],
) -> ClipSignature:
    """The signature of the frames with a face (at most MAX_FRAMES of them, evenly picked)."""
    usable = [i for i, points in enumerate(landmarks) if points is not None]
    if len(usable) > MAX_FRAMES:
        picks = np.linspace(0, len(usable) - 1, MAX_FRAMES).round().astype(int)
        usable = [usable[k] for k in picks]
    thumbs = [face_thumbnail(frames[i], landmarks[i]) for i in usable]  # type: ignore[arg-type]
    table = np.stack(thumbs) if thumbs else np.zeros((0, THUMB * THUMB), np.uint8)
    track = np.array([yaws[i] or 0.0 for i in usable], np.float32)
    return ClipSignature(table, track)


def _normalised(thumbs: NDArray[np.uint8]) -> NDArray[np.float32]:
    values = thumbs.astype(np.float32)
    values -= values.mean(axis=1, keepdims=True)
    values /= values.std(axis=1, keepdims=True) + np.float32(1.0)
    return values


def nearest_distances(
    new: ClipSignature, old: ClipSignature, max_yaw_gap: float
) -> NDArray[np.float64]:
    """Per frame of ``new``, the distance to the nearest frame of ``old`` at about its yaw
    (inf when none is within ``max_yaw_gap``)."""
    if not len(new.yaws) or not len(old.yaws):
        return np.full(len(new.yaws), np.inf)
    a, b = _normalised(new.thumbs), _normalised(old.thumbs)
    distance = np.abs(a[:, None, :] - b[None, :, :]).mean(axis=2).astype(np.float64)
    gap = np.abs(new.yaws[:, None] - old.yaws[None, :])
    distance[gap > max_yaw_gap] = np.inf
    return np.asarray(distance.min(axis=1), np.float64)


def repeated_fraction(
    new: ClipSignature, old: ClipSignature, tolerance: float, max_yaw_gap: float
) -> float:
    """The fraction of ``new``'s frames with a twin in ``old`` (0 when ``new`` is empty)."""
    if not len(new.yaws):
        return 0.0
    return float((nearest_distances(new, old, max_yaw_gap) < tolerance).mean())
