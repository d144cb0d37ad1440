"""FaceEngine: the models of one process: decode -> detect -> chip -> embed."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from face_engine.config import Settings
from face_engine.distance import distance, within
from face_engine.errors import MultipleFaces, NoFaceFound, TooManyFaces
from face_engine.types import BGRImage, EmbeddedFace, Embedding, Face, ModelIdentity
from face_engine.vision.decoding import check_image, decode_image
from face_engine.vision.detection import load_detector
from face_engine.vision.embedding import Chip, load_embedder


class FaceEngine:
    """All models, loaded once per process; every method is safe to call from several threads.

    Distances are Euclidean between unit embeddings, in [0, 2] (equal to Annoy's angular
    distance); two faces are the same person when their distance is below ``threshold``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.threshold: float = settings.model.threshold
        self.detector = load_detector(settings.detector)
        self.embedder = load_embedder(
            settings.embedder, settings.alignment, settings.data.dir / "models"
        )

    @property
    def identity(self) -> ModelIdentity:
        """The embedding model: what the store records with every vector."""
        return self.embedder.identity

    def decode(self, data: bytes, *, frame: bool = False, webcam: bool = False) -> BGRImage:
        """Image bytes -> BGR array; ImageDecodeError on anything that is not a sound image.

        ``frame``: a camera frame (login without a challenge): ``[decode] frame_max_pixels``
        applies; ``webcam``: a head-turn or preview frame: ``webcam_max_pixels`` and
        ``webcam_max_bytes``.
        """
        return decode_image(data, self.settings.decode, frame=frame, webcam=webcam)

    def check_image(self, data: bytes, *, frame: bool = False, webcam: bool = False) -> None:
        """``decode``'s checks of size and header, without decoding (ImageDecodeError)."""
        check_image(data, self.settings.decode, frame=frame, webcam=webcam)

    def detect(self, image: BGRImage) -> list[Face]:
        """Every face, largest first (cheap: for live previews)."""
        return self.detector.detect(image)

    def chip(self, image: BGRImage, face: Face) -> Chip:
        """The face cut and aligned as the embedding model's input."""
        return self.embedder.chip(image, face)

    def embed(self, image: BGRImage, face: Face) -> EmbeddedFace:
        """``face`` with its embedding."""
        return self.embed_many([(image, face)])[0]

    def embed_many(self, items: list[tuple[BGRImage, Face]]) -> list[EmbeddedFace]:
        """Each (image, face) embedded, in one pass of the network over the batch."""
        chips = [self.embedder.chip(image, face) for image, face in items]
        vectors = self.embedder.embed_chips(chips)
        return [
            EmbeddedFace(face, vector) for (_, face), vector in zip(items, vectors, strict=True)
        ]

    def faces(self, image: BGRImage) -> list[EmbeddedFace]:
        """Every face in ``image``, embedded, largest first."""
        return self.embed_many([(image, face) for face in self.detect(image)])

    def dominant_face(self, faces: list[Face]) -> Face:
        """The largest face; NoFaceFound if none, MultipleFaces if another is comparable in size.

        A second face smaller than ``multiple_faces_ratio`` of the largest (someone far in the
        background) does not count.
        """
        return self._only_one(self._comparable(faces))

    def _comparable(self, faces: list[Face]) -> list[Face]:
        """The largest of ``faces`` first, then those at least ``multiple_faces_ratio`` of it."""
        if not faces:
            return []
        main = max(faces, key=lambda f: f.size)
        ratio = self.settings.engine.multiple_faces_ratio
        return [main, *(f for f in faces if f is not main and f.size >= ratio * main.size)]

    @staticmethod
    def _only_one(faces: list[Face]) -> Face:
        if not faces:
            raise NoFaceFound()
        if len(faces) > 1:
            raise MultipleFaces(
                f"{len(faces)} faces of similar size are in the image; only one person "
                "may be in view"
            )
        return faces[0]

    def comparable_faces(self, image: BGRImage, *, bounded: bool = False) -> list[Face]:
        """The largest face and every face at least ``multiple_faces_ratio`` of its size,
        largest first (empty when there is no face), found with less work when the face is
        not tiny.

        Only faces of at least ``multiple_faces_ratio`` of the largest one can count, so the
        search first skips faces smaller than ``first_search_fraction`` of the shorter side
        (the finest pyramid levels, the most costly ones). When the largest face it finds is
        big enough that any rival must be above that size, that answer stands; otherwise (a
        small face, or none) the search runs again down to the size that matters, or to
        ``[detector] min_face_size``. The answers equal the full search's on every test photo
        and frame (tests/face_engine/test_pipeline.py).

        ``bounded`` (a request's frame): TooManyFaces as soon as a search finds more faces
        than ``[detector] max_faces``, before anything else is done with them.
        """
        engine = self.settings.engine

        def search(min_size: float = 0.0) -> list[Face]:
            found = self.detector.detect(image, min_size=min_size)
            if bounded:
                self._check_count(found)
            return found

        floor = engine.first_search_fraction * min(image.shape[:2])
        faces: list[Face] = []
        if floor > self.settings.detector.min_face_size:
            faces = search(floor)
            if faces:
                needed = engine.multiple_faces_ratio * max(face.size for face in faces)
                if needed < floor:
                    faces = search(needed)
        return self._comparable(faces or search())

    def preview_faces(self, image: BGRImage) -> list[Face]:
        """Every face in ``image`` (a preview), searched at ``[detector] preview_max_side``;
        TooManyFaces past ``[detector] max_faces``."""
        side = self.settings.detector.preview_max_side
        return self._check_count(self.detector.detect(image, max_side=side))

    def _check_count(self, faces: list[Face]) -> list[Face]:
        limit = self.settings.detector.max_faces
        if len(faces) > limit:
            raise TooManyFaces(
                f"{len(faces)} faces are in the image; at most {limit} may be, and only one "
                "person may log in"
            )
        return faces

    def find_dominant(self, image: BGRImage, *, bounded: bool = False) -> Face:
        """The one face that matters in ``image`` (``comparable_faces``); NoFaceFound if none,
        MultipleFaces if another face is comparable in size."""
        return self._only_one(self.comparable_faces(image, bounded=bounded))

    def embed_one(self, image: BGRImage) -> EmbeddedFace:
        """The one dominant face of ``image``, embedded (for login and registration)."""
        return self.embed(image, self.find_dominant(image))

    @staticmethod
    def distance(a: Embedding, b: Embedding) -> float:
        """Euclidean distance between two unit embeddings, in [0, 2] (``face_engine.distance``)."""
        return distance(a, b)

    @staticmethod
    def distances(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """(N, N) distances between the rows of ``vectors``."""
        return within(vectors)
