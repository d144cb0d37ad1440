"""Array aliases and the small frozen result types that cross the engine's API."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

BGRImage = NDArray[np.uint8]
"""An image as OpenCV holds it: uint8, shape (H, W, 3), channels B, G, R."""

Embedding = NDArray[np.float32]
"""A face embedding: float32, shape (D,) (128 for dlib's ResNet, 512 for FaceNet), L2 norm 1."""

Box = tuple[float, float, float, float]
"""A face box: (x, y, w, h), OpenCV order: top-left corner, width and height, in pixels."""

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True, slots=True, eq=False)
class Face:
    """One detected face, in the original image's pixel coordinates.

    box: (x, y, w, h), OpenCV order: top-left corner, width and height, floats.
    landmarks: float32 (5, 2) array of (x, y) in ``LANDMARK_NAMES`` order (the subject's
    left eye is ``left_eye`` as MTCNN names it: the one on the image's left).
    score: MTCNN O-Net face probability in [0, 1].
    """

    box: tuple[float, float, float, float]
    landmarks: NDArray[np.float32]
    score: float

    def __post_init__(self) -> None:
        if len(self.box) != 4 or self.box[2] <= 0 or self.box[3] <= 0:
            raise ValueError(f"box must be (x, y, w, h) with positive size, got {self.box}")
        if np.shape(self.landmarks) != (5, 2):
            raise ValueError(f"landmarks must have shape (5, 2), got {np.shape(self.landmarks)}")

    @property
    def size(self) -> float:
        """Side of the face box in pixels (geometric mean of width and height)."""
        return float(np.sqrt(self.box[2] * self.box[3]))


@dataclass(frozen=True, slots=True, eq=False)
class EmbeddedFace:
    """A detected face and its embedding (unit-norm float32, see ``Embedding``)."""

    face: Face
    embedding: Embedding

    @property
    def score(self) -> float:
        return self.face.score

    @property
    def size(self) -> float:
        return self.face.size


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """Which network made an embedding: its name, the SHA-256 of its weights file, and the
    embedding's length. Embeddings of two identities are never compared."""

    name: str
    weights_hash: str
    dim: int

    @property
    def tag(self) -> str:
        """Short, file-name-safe label, e.g. ``dlib-3a1f0c9e2b7d``."""
        return f"{self.name}-{self.weights_hash[:12]}"
