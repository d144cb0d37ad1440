"""Matching rules: who a face is (1:N) or whether it is a given user (1:1).

The one owner of the match threshold and the ambiguity margin; the index only finds
neighbours, and the store only keeps faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from face_engine.errors import UnknownUser
from face_engine.index.face_index import FaceIndex
from face_engine.store.lmdb_store import FaceStore
from face_engine.types import Embedding


@dataclass(frozen=True, slots=True)
class Match:
    """A recognised user and the distance of their nearest face, in [0, 2]."""

    user_id: int
    username: str
    distance: float


class Matcher:
    """Decides matches from index neighbours (1:N) or a user's own faces (1:1).

    threshold: Euclidean distance between unit embeddings (= Annoy's angular distance) below
    which two faces are the same person. ambiguity_margin: a 1:N match is refused when a
    different user is within this distance of the best one.
    """

    def __init__(
        self, store: FaceStore, index: FaceIndex, threshold: float, ambiguity_margin: float
    ) -> None:
        self.store = store
        self.index = index
        self.threshold = threshold
        self.ambiguity_margin = ambiguity_margin

    def identify(self, vector: Embedding) -> Match | None:
        """The nearest user if within the threshold and not ambiguous, else None."""
        neighbors = self.index.search(vector, k=2)
        if not neighbors or neighbors[0].distance >= self.threshold:
            return None
        if len(neighbors) > 1 and neighbors[1].distance - neighbors[0].distance < (
            self.ambiguity_margin
        ):
            return None
        return self._match(neighbors[0].user_id, neighbors[0].distance)

    def verify(self, user_id: int, vector: Embedding) -> Match | None:
        """1:1: the user if one of their own faces is within the threshold, else None."""
        faces = self.store.faces_of(user_id)
        if not faces:
            return None
        matrix = np.stack([f.embedding for f in faces])
        distance = float(np.linalg.norm(matrix - np.asarray(vector, np.float32), axis=1).min())
        return self._match(user_id, distance) if distance < self.threshold else None

    def is_registered(self, vector: Embedding, within: float) -> bool:
        """Whether any stored face is closer than ``within`` to ``vector``."""
        nearest = self.index.search(vector, k=1)
        return bool(nearest) and nearest[0].distance < within

    def _match(self, user_id: int, distance: float) -> Match | None:
        try:
            user = self.store.get_user(user_id)
        except UnknownUser:
            return None
        return Match(user.id, user.username, distance)
