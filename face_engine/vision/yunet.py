"""YuNet (OpenCV Zoo ``face_detection_yunet_2023mar``) through ``cv2.FaceDetectorYN``.

One network pass over the (downscaled) frame gives boxes, scores and five landmarks in
MTCNN's order (image-left eye, image-right eye, nose tip, image-left and image-right mouth
corner). ``refine`` looks again only in the region around a guessed box, for the frames of
a stream between two full detections. Compared with MTCNN in docs/recognition.md.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.config import DetectorConfig
from face_engine.types import BGRImage, Box, Face
from face_engine.vision.weights import yunet_model_path

NMS_THRESHOLD = 0.3
TOP_K = 5000
# ``refine`` detects in the square this many times the guessed box's side, scaled so the
# guessed face is REFINE_FACE pixels (YuNet finds faces from about 10 px up).
REFINE_CONTEXT = 2.0
REFINE_FACE = 96.0


class YuNetDetector:
    """YuNet; ``detect`` and ``refine`` are thread-safe and answer in the input's pixels."""

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        cv2.setNumThreads(max(1, config.threads))
        self._net = cv2.FaceDetectorYN.create(
            str(yunet_model_path()), "", (320, 320), config.yunet_score, NMS_THRESHOLD, TOP_K
        )
        self._lock = threading.Lock()

    def _run(self, image: BGRImage) -> NDArray[np.float32]:
        """Raw rows (x, y, w, h, 5 x (x, y), score) for ``image`` as it is."""
        height, width = image.shape[:2]
        with self._lock:
            self._net.setInputSize((width, height))
            _, rows = self._net.detect(np.ascontiguousarray(image))
        return np.zeros((0, 15), np.float32) if rows is None else np.asarray(rows, np.float32)

    def detect(self, image: BGRImage, min_size: float = 0.0, max_side: int = 0) -> list[Face]:
        """Every face in ``image`` (HxWx3 uint8 BGR) of at least ``[detector] min_face_size``
        and ``min_size`` pixels, largest box first."""
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 10:
            return []
        height, width = image.shape[:2]
        shrink = min(1.0, (max_side or self.config.max_side) / max(height, width))
        small = image
        if shrink < 1.0:
            size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
            small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        floor = max(float(self.config.min_face_size), min_size)
        faces = _to_faces(self._run(small), 1.0 / shrink, 0.0, 0.0, width, height)
        return [face for face in faces if face.size >= floor]

    def refine(self, images: list[BGRImage], boxes: list[Box]) -> list[Face | None]:
        """Each image's face nearest its guessed ``(x, y, w, h)`` box, found by YuNet in the
        region around the guess only; None where it finds none there."""
        return [self._refine_one(image, box) for image, box in zip(images, boxes, strict=True)]

    def _refine_one(self, image: BGRImage, box: Box) -> Face | None:
        x, y, w, h = box
        side = REFINE_CONTEXT * float(np.sqrt(max(w * h, 1.0)))
        cx, cy = x + w / 2, y + h / 2
        height, width = image.shape[:2]
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x1, y1 = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
        if x1 - x0 < 10 or y1 - y0 < 10:
            return None
        scale = min(1.0, REFINE_FACE * REFINE_CONTEXT / side)
        region = image[y0:y1, x0:x1]
        if scale < 1.0:
            size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
            region = np.asarray(cv2.resize(region, size, interpolation=cv2.INTER_AREA), np.uint8)
        faces = _to_faces(self._run(region), 1.0 / scale, x0, y0, width, height)
        if not faces:
            return None
        return min(faces, key=lambda f: np.hypot(*(_centre(f.box) - np.array([cx, cy]))))


def _centre(box: Box) -> NDArray[np.float64]:
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2], np.float64)


def _to_faces(
    rows: NDArray[np.float32], factor: float, dx: float, dy: float, width: int, height: int
) -> list[Face]:
    """Faces in the full image's pixels from rows found at ``1 / factor`` scale, offset by
    (dx, dy); boxes clipped to the image, largest first."""
    faces = []
    for row in rows:
        x, y, w, h = (float(v) * factor for v in row[:4])
        x1, y1 = max(0.0, x + dx), max(0.0, y + dy)
        x2, y2 = min(float(width), x + dx + w), min(float(height), y + dy + h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        offset = np.array([dx, dy], np.float32)
        landmarks = row[4:14].reshape(5, 2).astype(np.float32) * factor + offset
        faces.append(Face((x1, y1, x2 - x1, y2 - y1), landmarks, float(row[14])))
    faces.sort(key=lambda f: f.box[2] * f.box[3], reverse=True)
    return faces
