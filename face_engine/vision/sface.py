"""SFace (OpenCV Zoo ``face_recognition_sface_2021dec``, 128-D) through OpenCV 5's DNN engine.

The face is cut by a least-squares similarity transform of MTCNN's five landmarks onto the
standard ArcFace 112x112 five-point template (what SFace was trained on). The graph takes raw
0-255 pixels, NCHW float32, and normalises inside; its output is L2-normalised here.

Runtime and colour order were chosen by measurement (docs/recognition.md, ``bench/sface_study.py``):
OpenCV 5's new DNN engine runs the int8 file as shipped about twice as fast as onnxruntime even
with its weights turned to float at load (``sface_onnx``), with the same descriptors (tests/
face_engine/test_sface.py); BGR input, the order of OpenCV's own images, beats RGB on the
development set.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.types import BGRImage, Face
from face_engine.vision.alignment import similarity_transform
from face_engine.vision.dlib_alignment import warp_chip

INPUT_SIZE = 112
DIM = 128
INPUT_NAME = "data"

Channels = Literal["bgr", "rgb"]
# The colour order the network is fed, chosen on the development set (docs/recognition.md).
CHANNELS: Channels = "bgr"

# Where the left eye, right eye, nose tip, left and right mouth corners sit on a 112x112 face:
# the five-point template of ArcFace / InsightFace, which OpenCV's FaceRecognizerSF aligns to.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float64,
)


def transform(face: Face) -> NDArray[np.float64]:
    """The 2x3 image-to-chip matrix fitting the face's five landmarks onto the template."""
    return np.asarray(similarity_transform(face.landmarks, ARCFACE_TEMPLATE), np.float64)


def chip(image: BGRImage, face: Face, channels: Channels = CHANNELS) -> NDArray[np.uint8]:
    """The 112x112 face in ``channels`` order; a large face is halved with cv2.pyrDown first
    so bilinear sampling does not alias."""
    warped = warp_chip(image, transform(face), size=INPUT_SIZE)
    if channels == "bgr":
        return warped
    return np.ascontiguousarray(warped[:, :, ::-1])


def to_blob(chips: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
    """(N, 3, 112, 112) float32 from 112x112x3 uint8 chips; ValueError on any other shape."""
    for i, face in enumerate(chips):
        if not isinstance(face, np.ndarray) or face.dtype != np.uint8:
            raise ValueError(f"chip {i}: expected a uint8 NumPy array")
        if face.shape != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"chip {i}: shape {face.shape}, expected (112, 112, 3)")
    return np.ascontiguousarray(np.stack(chips).transpose(0, 3, 1, 2), np.float32)


def unit_rows(raw: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to L2 norm 1."""
    out = np.asarray(raw, np.float32).reshape(len(raw), -1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.asarray(out / np.maximum(norms, np.float32(1e-12)), np.float32)


class SFaceNet:
    """112x112 uint8 chips in, unit-norm float32[128] descriptors out, through ``cv2.dnn``."""

    def __init__(self, path: Path, threads: int = 2) -> None:
        # OpenCV's thread pool is per process; the embedder is its main user.
        cv2.setNumThreads(max(1, threads))
        self._net = cv2.dnn.readNetFromONNX(str(path), engine=cv2.dnn.ENGINE_NEW)
        self._lock = threading.Lock()

    def embed_batch(self, chips: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """(N, 128) unit rows, one per chip, in one forward pass."""
        if not chips:
            return np.zeros((0, DIM), np.float32)
        blob = to_blob(chips)
        with self._lock:
            self._net.setInput(blob, INPUT_NAME)
            raw = np.asarray(self._net.forward(), np.float32)
        return unit_rows(raw)
