"""Accounts: the use cases the web service offers, on FaceEngine + FaceStore + FaceIndex.

No Flask here: the web layer passes image bytes in and maps the errors raised here to HTTP.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from face_engine.errors import (
    FaceAlreadyRegistered,
    FaceEngineError,
    FacesDiffer,
    MultipleFaces,
    NoFaceFound,
    NotRecognized,
    UnknownUser,
)
from face_engine.index import FaceIndex, IndexManifest, Match
from face_engine.storage import FaceStore, User, normalise_username
from face_engine.types import Face
from face_engine.vision.pipeline import FaceEngine


@dataclass(frozen=True, slots=True)
class Preview:
    """Faces in one frame (no embeddings), for the live camera preview."""

    faces: list[Face]
    width: int
    height: int


class Accounts:
    """Register, log in, delete; one instance per process."""

    def __init__(self, engine: FaceEngine, store: FaceStore, index: FaceIndex) -> None:
        self.engine = engine
        self.store = store
        self.index = index

    def _faces(self, images: list[bytes]) -> list[Face]:
        """The dominant face of each image; errors name the image (1-based)."""
        faces = []
        for number, data in enumerate(images, start=1):
            try:
                faces.append(self.engine.embed_one(self.engine.decode(data)))
            except FaceEngineError as e:
                raise type(e)(f"image {number}: {e.detail}") from e
        return faces

    def register(self, username: str, images: list[bytes]) -> User:
        """Create an account with one face per image (1 to 5 images of the same person).

        :raise InvalidUsername, UsernameTaken, ImageDecodeError, NoFaceFound, MultipleFaces,
            FacesDiffer (the images show different people), FaceAlreadyRegistered.
        """
        normalise_username(username)  # refuse a bad name before the models run
        faces = self._faces(images)
        threshold = self.engine.threshold
        for a, b in itertools.combinations(faces, 2):
            if self.engine.distance(a.embedding, b.embedding) >= threshold:
                raise FacesDiffer("the images do not all show the same person")
        for face in faces:
            nearest = self.index.search(face.embedding, k=1)
            if nearest and nearest[0].distance < threshold:
                raise FaceAlreadyRegistered("this face already belongs to an account")
        return self.store.create_user(username, [(f.embedding, f.score) for f in faces])

    def login(self, images: list[bytes], username: str | None = None) -> Match:
        """Recognise the person in 1 to 5 frames: among everyone (1:N), or only as
        ``username`` (1:1). Frames without a face are skipped.

        :raise NoFaceFound (no frame has a face), MultipleFaces, ImageDecodeError,
            NotRecognized.
        """
        faces: list[Face] = []
        crowded = 0
        for data in images:
            image = self.engine.decode(data)
            try:
                faces.append(self.engine.embed_one(image))
            except NoFaceFound:
                continue
            except MultipleFaces:
                crowded += 1
        if not faces:
            if crowded:
                raise MultipleFaces("more than one face is in view; only one person may log in")
            raise NoFaceFound("no face was found in any frame")
        if username:
            try:
                user_id = self.store.find_user(username).id
            except UnknownUser:
                raise NotRecognized() from None  # never reveal which usernames exist
            matches = [self.index.verify(user_id, f.embedding) for f in faces]
        else:
            matches = [self.index.identify(f.embedding) for f in faces]
        found = [m for m in matches if m is not None]
        if not found or len({m.user_id for m in found}) > 1:
            raise NotRecognized()
        best = min(found, key=lambda m: m.distance)
        self.store.record_login(best.user_id, time.time())
        return best

    def preview(self, data: bytes) -> Preview:
        image = self.engine.decode(data)
        return Preview(self.engine.detect(image), image.shape[1], image.shape[0])

    def delete(self, user_id: int) -> None:
        self.store.delete_user(user_id)

    def rebuild(self) -> IndexManifest:
        return self.index.rebuild()

    def stats(self) -> dict[str, Any]:
        users, faces = self.store.counts()
        manifest = self.index.manifest()
        return {
            "users": users,
            "faces": faces,
            "index_version": manifest.version if manifest else 0,
            "index_faces": manifest.faces if manifest else 0,
            "index_built_at": manifest.built_at if manifest else None,
            "fresh_faces": self.index.fresh_count(),
        }
