"""What the store keeps, whichever backend keeps it: users and face records."""

from __future__ import annotations

from dataclasses import dataclass

from face_engine.types import Embedding


@dataclass(frozen=True, slots=True)
class User:
    """An account. ``created``, ``last_login`` (the latest) and ``previous_login`` (the one
    before it) are epoch seconds. ``session_version`` grows at every logout and deletion:
    sessions issued under an older one are void."""

    id: int
    username: str
    created: float
    status: str
    last_login: float | None
    previous_login: float | None = None
    session_version: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class FaceRecord:
    """One stored face vector of a user, and the model (ref) that made it."""

    id: int
    user_id: int
    embedding: Embedding
    created: float
    score: float
    model_ref: int
