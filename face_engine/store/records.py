"""What the store keeps, and how it is laid out in LMDB: keys, face and user records."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

from face_engine.types import Embedding

EMBEDDING_SIZE = 512
FACE_HEADER = struct.Struct("<qdd")  # user id, created (epoch s), detection score


@dataclass(frozen=True, slots=True)
class User:
    """An account. ``created`` and ``last_login`` are epoch seconds."""

    id: int
    username: str
    created: float
    status: str
    last_login: float | None


@dataclass(frozen=True, slots=True, eq=False)
class FaceRecord:
    """One stored face vector of a user."""

    id: int
    user_id: int
    embedding: Embedding
    created: float
    score: float


def key(n: int) -> bytes:
    """An id as an LMDB key: 8 bytes big-endian, so keys sort in id order."""
    return n.to_bytes(8, "big")


def unkey(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def encode_face(user_id: int, vector: Embedding, created: float, score: float) -> bytes:
    vector = np.asarray(vector, np.float32)
    if vector.shape != (EMBEDDING_SIZE,) or not np.isfinite(vector).all():
        raise ValueError(f"a face vector must be {EMBEDDING_SIZE} finite float32 values")
    return FACE_HEADER.pack(user_id, created, score) + vector.tobytes()


def decode_face(face_id: int, raw: bytes) -> FaceRecord:
    user_id, created, score = FACE_HEADER.unpack_from(raw)
    vector = np.frombuffer(raw, np.float32, EMBEDDING_SIZE, FACE_HEADER.size).copy()
    return FaceRecord(face_id, user_id, vector, created, score)


def user_json(user: User) -> bytes:
    return json.dumps(
        {
            "username": user.username,
            "created": user.created,
            "status": user.status,
            "last_login": user.last_login,
        }
    ).encode()


def user_from_json(user_id: int, raw: bytes) -> User:
    data = json.loads(raw)
    return User(user_id, data["username"], data["created"], data["status"], data["last_login"])
