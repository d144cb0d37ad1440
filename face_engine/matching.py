"""Matching rules: the one owner of every threshold decision.

Who a face is (1:N), whether it is a given user (1:1), whether a registration's frames show
one person and whether that person is already enrolled, and how several frames of one
attempt are fused into one decision. The index only finds neighbours, the store only keeps
faces, and the distance is ``face_engine.distance``'s.

1:N knows the gallery: a stranger is compared with every enrolled face, so the threshold
that keeps the chance of a false identification per attempt at ``[matching]
max_false_identification`` tightens as faces are enrolled (``Gallery``), read off the
model's calibration on the development set (``face_engine.calibration``). It is never looser
than the model's 1:1 threshold. A face within 1:1 of one user but not within the 1:N
threshold is a ``Candidate``: the person is asked for their username and the same frames
are verified 1:1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from face_engine.calibration import MIN_COUNT, Calibration
from face_engine.config import ModelConfig
from face_engine.distance import to_rows, within
from face_engine.errors import UnknownUser
from face_engine.index.search import FaceSearch
from face_engine.store.interfaces import FaceTable, UserTable
from face_engine.types import Embedding


@dataclass(frozen=True, slots=True)
class Match:
    """A recognised user and the distance of the fused frames to their nearest face."""

    user_id: int
    username: str
    distance: float


@dataclass(frozen=True, slots=True)
class Candidate:
    """Close enough for 1:1 but not for 1:N (or as close to two users): ask for the username."""

    distance: float
    threshold: float


@dataclass(frozen=True, slots=True)
class Gallery:
    """The 1:N threshold in force for ``enrolled_faces``, and what it is estimated to cost.

    ``false_identification``: the chance that a person who is not enrolled is taken for
    someone, per attempt, 1 - (1 - FAR)^faces; ``tar``: the share of the development set's
    same-person pairs accepted at ``threshold``; ``extrapolated``: the per-face FAR needed is
    below what the development set measures (the calibration's tail model answered).
    """

    enrolled_faces: int
    threshold: float
    per_face_far: float
    false_identification: float
    tar: float | None
    extrapolated: bool
    calibrated: bool


def gallery_for(
    enrolled_faces: int,
    one_to_one: float,
    max_false_identification: float,
    calibration: Calibration | None,
) -> Gallery:
    """The 1:N threshold for a gallery of ``enrolled_faces``: the per-face FAR it can afford
    is ``max_false_identification / enrolled_faces``, read off ``calibration``; never looser
    than ``one_to_one`` (uncalibrated: ``one_to_one`` itself)."""
    faces = max(enrolled_faces, 1)
    if calibration is None:
        return Gallery(enrolled_faces, one_to_one, 0.0, 0.0, None, False, False)
    threshold = max(
        0.0, min(one_to_one, calibration.threshold_for(max_false_identification / faces))
    )
    per_face = calibration.far(threshold)
    return Gallery(
        enrolled_faces,
        round(threshold, 4),
        per_face,
        1.0 - (1.0 - per_face) ** faces,
        round(calibration.tar(threshold), 4),
        per_face * calibration.different_pairs < MIN_COUNT,
        True,
    )


def fuse(vectors: NDArray[np.float32]) -> Embedding:
    """One embedding for the frames of one attempt: their mean, back on the unit sphere.

    Measured on the development set against "any frame matches" and the mean distance
    (docs/recognition.md): fewer false accepts at the same true accepts.
    """
    mean = np.asarray(vectors, np.float32).reshape(len(vectors), -1).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return np.asarray(mean / norm if norm > 0 else mean, np.float32)


class Matcher:
    """Decides matches from the search's neighbours (1:N) or a user's own faces (1:1), for
    the model ``search`` covers.

    ``thresholds``: the model's 1:1 threshold and registration thresholds (distances below
    which two faces are one person). ``ambiguity_margin``: a 1:N match is refused when a
    different user is within this distance of the best one. ``calibration``: the model's
    distances on the development set (None: uncalibrated, 1:N uses the 1:1 threshold).
    """

    def __init__(
        self,
        faces: FaceTable,
        users: UserTable,
        search: FaceSearch,
        thresholds: ModelConfig,
        ambiguity_margin: float,
        max_false_identification: float = 0.001,
        calibration: Calibration | None = None,
    ) -> None:
        self.faces = faces
        self.users = users
        self.search = search
        self.thresholds = thresholds
        self.threshold = thresholds.threshold
        self.ambiguity_margin = ambiguity_margin
        self.max_false_identification = max_false_identification
        self.calibration = calibration

    # -- the gallery ---------------------------------------------------------------------

    def enrolled_faces(self) -> int:
        """Faces a stranger is compared with (every stored face; during a migration both
        models' faces count, which errs on the strict side)."""
        return self.faces.total_faces()

    def gallery(self, enrolled_faces: int | None = None) -> Gallery:
        """The 1:N threshold for ``enrolled_faces`` (default: the store's count)."""
        faces = self.enrolled_faces() if enrolled_faces is None else enrolled_faces
        return gallery_for(faces, self.threshold, self.max_false_identification, self.calibration)

    # -- decisions -----------------------------------------------------------------------

    def identify(self, vectors: NDArray[np.float32]) -> Match | Candidate | None:
        """1:N on the fused frames: a Match within the gallery's threshold and not
        ambiguous; a Candidate (ask for the username) within 1:1 but not within the gallery's
        threshold, or within ``ambiguity_margin`` of a second user; else None."""
        fused = fuse(vectors)
        neighbors = self.search.search(fused, k=2)
        if not neighbors or neighbors[0].distance >= self.threshold:
            return None
        best = neighbors[0]
        in_force = self.gallery().threshold
        if len(neighbors) > 1 and neighbors[1].distance - best.distance < self.ambiguity_margin:
            return Candidate(best.distance, in_force)  # two users alike: the name decides
        if best.distance >= in_force:
            return Candidate(best.distance, in_force)
        return self._match(best.user_id, best.distance)

    def verify(self, user_id: int, vectors: NDArray[np.float32]) -> Match | None:
        """1:1: the user if the fused frames are within the threshold of one of their own
        faces (of this matcher's model), else None."""
        refs = {ref for ref, model in self.faces.models().items() if model == self.search.model}
        faces = [f for f in self.faces.faces_of(user_id) if f.model_ref in refs]
        if not faces:
            return None
        stored = np.stack([f.embedding for f in faces])
        distance = float(to_rows(stored, fuse(vectors)).min())
        return self._match(user_id, distance) if distance < self.threshold else None

    def one_person(self, vectors: NDArray[np.float32]) -> bool:
        """Whether every pair of the frames or photos of one attempt is one person's."""
        return len(vectors) < 2 or float(within(vectors).max()) < self.thresholds.register_threshold

    def duplicate_threshold(self) -> float:
        """A new registration this close to a stored face is someone already enrolled: the
        model's duplicate threshold, tightened like 1:N as the gallery grows (otherwise a
        stranger who merely resembles someone could not register in a large gallery)."""
        return min(self.thresholds.duplicate_threshold, self.gallery().threshold)

    def is_registered(self, vectors: NDArray[np.float32], within: float | None = None) -> bool:
        """Whether the fused frames are closer than ``within`` (default: the duplicate
        threshold) to any stored face."""
        limit = self.duplicate_threshold() if within is None else within
        nearest = self.search.search(fuse(vectors), k=1)
        return bool(nearest) and nearest[0].distance < limit

    def duplicates(
        self, stored: NDArray[np.float32], vectors: NDArray[np.float32], within: float
    ) -> bool:
        """Whether the fused ``vectors`` are closer than ``within`` to a row of ``stored``
        (the registration guard inside the store's write transaction)."""
        return bool(len(stored)) and float(to_rows(stored, fuse(vectors)).min()) < within

    def _match(self, user_id: int, distance: float) -> Match | None:
        try:
            user = self.users.get_user(user_id)
        except UnknownUser:
            return None
        return Match(user.id, user.username, distance)
