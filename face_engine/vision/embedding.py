"""Embedders: an aligned chip per face, then one network pass over a batch of chips.

Three models (``[embedder] model``):
- ``sface`` (the default): OpenCV Zoo's SFace (128-D) through ``cv2.dnn``, on the 112x112 face
  aligned by MTCNN's five landmarks onto the ArcFace template (``sface``);
- ``dlib``: dlib's face-recognition ResNet (128-D) on onnxruntime through our own port of its
  ``.dat`` (``dlib_embedding``), on the 150x150 chip dlib cuts (``dlib_alignment``);
- ``facenet``: FaceNet 20180408-102900 (512-D, CASIA-WebFace) through ``cv2.dnn``, on our
  similarity-aligned 160x160 face (``alignment``).

Each embedder names itself with a ``ModelIdentity`` (name, SHA-256 of its weights file, dim),
which the store records with every vector, so vectors of two models are never compared.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.config import AlignmentConfig, EmbedderConfig
from face_engine.types import BGRImage, Face, ModelIdentity
from face_engine.vision.alignment import align
from face_engine.vision.dlib_onnx import sha256_file
from face_engine.vision.weights import dlib_model_paths, facenet_model_path, sface_model_path

Chip = NDArray[np.uint8]
"""An aligned face, as the model's input wants it: uint8 (S, S, 3) (RGB, or BGR for SFace)."""


class Embedder(Protocol):
    """Cuts a face's chip and turns chips into unit-norm float32 embeddings."""

    identity: ModelIdentity

    def chip(self, image: BGRImage, face: Face) -> Chip: ...

    def embed_chips(self, chips: list[Chip]) -> NDArray[np.float32]:
        """(N, dim) unit rows, one per chip, in one pass."""
        ...


@functools.cache
def _weights_hash(path: Path, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def weights_hash(path: Path) -> str:
    """SHA-256 of a weights file, computed once per process (keyed by size and mtime)."""
    stat = path.stat()
    return _weights_hash(path, stat.st_size, stat.st_mtime_ns)


def model_identity(config: EmbedderConfig) -> ModelIdentity:
    """Which model ``config`` selects, without loading it (one hash of its weights file)."""
    if config.model == "sface":
        return ModelIdentity("sface", weights_hash(sface_model_path()), 128)
    if config.model == "dlib":
        return ModelIdentity("dlib", weights_hash(dlib_model_paths()[0]), 128)
    return ModelIdentity("facenet", weights_hash(facenet_model_path()), 512)


class SFaceEmbedder:
    """SFace on the 112x112 face aligned onto the ArcFace template (``sface``)."""

    def __init__(self, config: EmbedderConfig) -> None:
        from face_engine.vision.sface import SFaceNet

        path = sface_model_path()
        self._net = SFaceNet(path, config.threads)
        self.identity = ModelIdentity("sface", weights_hash(path), 128)

    def chip(self, image: BGRImage, face: Face) -> Chip:
        from face_engine.vision import sface

        return sface.chip(image, face)

    def embed_chips(self, chips: list[Chip]) -> NDArray[np.float32]:
        return self._net.embed_batch(chips)


class DlibFaceEmbedder:
    """dlib's ResNet on the chip cut from MTCNN's landmarks or dlib's shape predictor."""

    def __init__(self, config: EmbedderConfig, cache_dir: Path) -> None:
        from face_engine.vision.dlib_embedding import DlibEmbedder

        resnet, shape_predictor = dlib_model_paths()
        self.config = config
        self._net = DlibEmbedder(resnet, cache_dir, config.threads)
        self.identity = ModelIdentity("dlib", self._net.weights_hash, self._net.dim)
        self._predictor: object | None = None
        if config.dlib_alignment == "shape_predictor":
            import dlib  # type: ignore[import-untyped,unused-ignore]

            self._predictor = dlib.shape_predictor(str(shape_predictor))

    def chip(self, image: BGRImage, face: Face) -> Chip:
        from face_engine.vision import dlib_alignment

        if self._predictor is None:
            # The warp is per channel, so warping BGR and swapping the 150x150 result equals
            # warping the converted frame, for a fraction of the conversion's cost.
            bgr = dlib_alignment.chip_from_mtcnn_landmarks(image, face)
            return np.ascontiguousarray(bgr[:, :, ::-1])
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), np.uint8)
        return dlib_alignment.chip_from_shape_predictor(rgb, face, self._predictor)

    def embed_chips(self, chips: list[Chip]) -> NDArray[np.float32]:
        return self._net.embed_batch(chips)


class FaceNetEmbedder:
    """FaceNet on our similarity-aligned 160x160 face (docs/alignment.md)."""

    def __init__(self, config: EmbedderConfig, alignment: AlignmentConfig) -> None:
        from face_engine.vision.facenet import FaceEmbedder

        self.alignment = alignment
        self._net = FaceEmbedder(config)
        self.identity = ModelIdentity("facenet", weights_hash(facenet_model_path()), 512)

    def chip(self, image: BGRImage, face: Face) -> Chip:
        return align(image, face, self.alignment)

    def embed_chips(self, chips: list[Chip]) -> NDArray[np.float32]:
        return self._net.embed_batch(chips)


def load_embedder(config: EmbedderConfig, alignment: AlignmentConfig, cache_dir: Path) -> Embedder:
    """The configured model, loaded (once per process: the caller keeps it).

    ``cache_dir``: where the dlib ONNX graph built from the ``.dat`` is kept.
    """
    if config.model == "sface":
        return SFaceEmbedder(config)
    if config.model == "dlib":
        return DlibFaceEmbedder(config, cache_dir)
    return FaceNetEmbedder(config, alignment)
