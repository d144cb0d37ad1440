"""FaceEngine: the one object the web layer calls: decode -> detect -> align -> embed."""

from __future__ import annotations

import dataclasses

import numpy as np

from face_engine.alignment import align
from face_engine.config import Settings
from face_engine.decoding import decode_image
from face_engine.detection import FaceDetector
from face_engine.embedding import FaceEmbedder
from face_engine.errors import MultipleFaces, NoFaceFound
from face_engine.types import BGRImage, Embedding, Face


class FaceEngine:
    """All models, loaded once per process; every method is safe to call from several threads.

    Distances are Euclidean between unit embeddings, in [0, 2] (equal to Annoy's angular
    distance); two faces are the same person when their distance is below ``threshold``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.threshold: float = settings.engine.threshold
        self.detector = FaceDetector(settings.detector)
        self.embedder = FaceEmbedder(settings.embedder)

    def decode(self, data: bytes) -> BGRImage:
        """Image bytes -> BGR array; ImageDecodeError on anything that is not a sound image."""
        return decode_image(data, self.settings.decode)

    def detect(self, image: BGRImage) -> list[Face]:
        """Every face, largest first, without embeddings (cheap: for live previews)."""
        return self.detector.detect(image)

    def align(self, image: BGRImage, face: Face) -> np.ndarray:
        """The face as FaceNet's 160x160 RGB input."""
        return align(image, face, self.settings.alignment)

    def embed(self, image: BGRImage, face: Face) -> Face:
        """``face`` with its embedding filled in."""
        vector = self.embedder.embed(self.align(image, face))
        return dataclasses.replace(face, embedding=vector)

    def faces(self, image: BGRImage) -> list[Face]:
        """Every face in ``image``, embedded, largest first."""
        return [self.embed(image, face) for face in self.detect(image)]

    def dominant_face(self, faces: list[Face]) -> Face:
        """The largest face; NoFaceFound if none, MultipleFaces if another is comparable in size.

        A second face smaller than ``multiple_faces_ratio`` of the largest (someone far in the
        background) does not count.
        """
        if not faces:
            raise NoFaceFound("no face was found in the image")
        main = max(faces, key=lambda f: f.size)
        ratio = self.settings.engine.multiple_faces_ratio
        rivals = [f for f in faces if f is not main and f.size >= ratio * main.size]
        if rivals:
            raise MultipleFaces(
                f"{1 + len(rivals)} faces of similar size are in the image; only one person "
                "may be in view"
            )
        return main

    def embed_one(self, image: BGRImage) -> Face:
        """The one dominant face of ``image``, embedded (for login and registration)."""
        return self.embed(image, self.dominant_face(self.detect(image)))

    @staticmethod
    def distance(a: Embedding, b: Embedding) -> float:
        """Euclidean distance between two unit embeddings, in [0, 2]."""
        return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))
