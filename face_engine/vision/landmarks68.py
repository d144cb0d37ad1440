"""dlib's 68 face landmarks (``shape_predictor_68_face_landmarks.dat``), found in the box a
detector drew: what the rigid-head liveness check fits a 3-D face to (docs/liveness.md)."""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.types import BGRImage, Face
from face_engine.vision.dlib_alignment import predictor_box
from face_engine.vision.weights import dlib_68_predictor_path


class Landmarks68:
    """The 68-point predictor, loaded on first use (about 100 MB; a process that never checks
    a head turn never loads it)."""

    def __init__(self) -> None:
        self._predictor: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._predictor is None:
            with self._lock:
                if self._predictor is None:
                    import dlib  # type: ignore[import-untyped,unused-ignore]

                    self._predictor = dlib.shape_predictor(str(dlib_68_predictor_path()))
        return self._predictor

    def points(self, image: BGRImage, face: Face) -> NDArray[np.float32]:
        """(68, 2) float32 pixel positions, in dlib's (iBUG 300-W) order."""
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        shape = self._load()(np.ascontiguousarray(grey), predictor_box(face))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)
