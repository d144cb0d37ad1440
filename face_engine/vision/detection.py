"""Face detectors (``[detector] model``): MTCNN (``mtcnn/``, the default) or YuNet (``yunet``)."""

from __future__ import annotations

from typing import Protocol

from face_engine.config import DetectorConfig
from face_engine.types import BGRImage, Box, Face


class Detector(Protocol):
    """Finds faces with five landmarks; both methods answer in the input's pixels."""

    def detect(self, image: BGRImage, min_size: float = 0.0, max_side: int = 0) -> list[Face]:
        """Every face (at least ``min_size`` pixels may be all that is searched), largest
        first; the image is searched shrunk to ``max_side`` (0: ``[detector] max_side``)."""
        ...

    def refine(self, images: list[BGRImage], boxes: list[Box]) -> list[Face | None]:
        """Each image's face near its guessed box (a stream's frames between full
        detections); None where there is none."""
        ...


def load_detector(config: DetectorConfig) -> Detector:
    """The configured detector, loaded (once per process: the caller keeps it)."""
    if config.model == "yunet":
        from face_engine.vision.yunet import YuNetDetector

        return YuNetDetector(config)
    from face_engine.vision.mtcnn.detector import FaceDetector

    return FaceDetector(config)
