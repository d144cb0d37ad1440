"""Per-frame observations for the liveness checks, from a detector's faces (no model here)."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.liveness.checks import FrameObservation
from face_engine.types import BGRImage, Face

SIGNATURE_SIDE = 16


def signature(image: BGRImage, side: int = SIGNATURE_SIDE) -> NDArray[np.float32]:
    """The whole frame as a ``side`` x ``side`` grey thumbnail of block means, in [0, 1]."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / np.float32(255.0)
    small = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


def observation(index: int, image: BGRImage, faces: list[Face], ratio: float) -> FrameObservation:
    """One frame's observation: faces at least ``ratio`` of the largest one's size count."""
    if not faces:
        return FrameObservation(index, 0, None, None, signature(image))
    main = max(faces, key=lambda f: f.size)
    comparable = sum(1 for f in faces if f.size >= ratio * main.size)
    return FrameObservation(
        index, comparable, main.box, np.asarray(main.landmarks, np.float32), signature(image)
    )
