"""Accounts: the use cases the web service offers, on FaceEngine + FaceStore + FaceIndex.

No Flask here: the web layer passes image bytes in and maps the errors raised here to HTTP.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from face_engine.config import Settings
from face_engine.errors import (
    FaceAlreadyRegistered,
    FaceEngineError,
    FacesDiffer,
    MultipleFaces,
    NoFaceFound,
    NotRecognized,
    UnknownUser,
)
from face_engine.index.face_index import FaceIndex, IndexManifest
from face_engine.matching import Match, Matcher
from face_engine.store.lmdb_store import FaceStore
from face_engine.store.records import User
from face_engine.types import EmbeddedFace, Face
from face_engine.usernames import normalise_username
from face_engine.vision.pipeline import FaceEngine


@dataclass(frozen=True, slots=True)
class Preview:
    """Faces in one frame (no embeddings), for the live camera preview."""

    faces: list[Face]
    width: int
    height: int


class Accounts:
    """Register, log in, delete; one instance per process."""

    def __init__(
        self, engine: FaceEngine, store: FaceStore, index: FaceIndex, matcher: Matcher
    ) -> None:
        self.engine = engine
        self.store = store
        self.index = index
        self.matcher = matcher

    def _faces(self, images: list[bytes]) -> list[EmbeddedFace]:
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
        if any(self.matcher.is_registered(face.embedding) for face in faces):
            raise FaceAlreadyRegistered("this face already belongs to an account")
        return self.store.create_user(username, [(f.embedding, f.score) for f in faces])

    def login(self, images: list[bytes], username: str | None = None) -> Match:
        """Recognise the person in 1 to 5 frames: among everyone (1:N), or only as
        ``username`` (1:1). Frames without a face are skipped.

        :raise NoFaceFound (no frame has a face), MultipleFaces, ImageDecodeError,
            NotRecognized.
        """
        faces: list[EmbeddedFace] = []
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
            matches = [self.matcher.verify(user_id, f.embedding) for f in faces]
        else:
            matches = [self.matcher.identify(f.embedding) for f in faces]
        found = [m for m in matches if m is not None]
        if not found or len({m.user_id for m in found}) > 1:
            raise NotRecognized()
        best = min(found, key=lambda m: m.distance)
        self.store.record_login(best.user_id, time.time())
        return best

    def preview(self, data: bytes) -> Preview:
        image = self.engine.decode(data)
        return Preview(self.engine.detect(image), image.shape[1], image.shape[0])

    def user(self, user_id: int) -> User:
        """The account with this id; UnknownUser if it was deleted."""
        return self.store.get_user(user_id)

    def find_user(self, username: str) -> User:
        """The account with this username (case-insensitive); UnknownUser if none."""
        return self.store.find_user(username)

    def face_count(self, user_id: int) -> int:
        return self.store.face_count(user_id)

    def users(self) -> list[tuple[User, int]]:
        """Every account with its number of faces, for the admin."""
        return [(user, self.store.face_count(user.id)) for user in self.store.list_users()]

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


def open_accounts(settings: Settings, engine: FaceEngine | None = None) -> Accounts:
    """Accounts on the store under ``<data>/lmdb`` and its index under ``<data>/index``.

    ``engine``: an already loaded FaceEngine to share (tests); else the models are loaded.
    """
    store = FaceStore(settings.data.dir / "lmdb", settings.store)
    index = FaceIndex(store, settings.data.dir / "index", settings.index)
    matcher = Matcher(store, index, settings.engine.threshold, settings.index.ambiguity_margin)
    return Accounts(engine or FaceEngine(settings), store, index, matcher)
