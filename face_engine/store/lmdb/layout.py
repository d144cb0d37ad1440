"""How the store's records are laid out in LMDB: keys, and face, user and model values."""

from __future__ import annotations

import json
import struct

import numpy as np

from face_engine.store.records import FaceRecord, User
from face_engine.types import Embedding, ModelIdentity

# user id, created (epoch s), detection score, model ref (the "models" table), then the vector
# as raw float32 (its length is the model's dim).
FACE_HEADER = struct.Struct("<qddI")

Raw = bytes | memoryview
"""What LMDB hands back for a value."""


def key(n: int) -> bytes:
    """An id as an LMDB key: 8 bytes big-endian, so keys sort in id order."""
    return n.to_bytes(8, "big")


def unkey(raw: Raw) -> int:
    return int.from_bytes(bytes(raw), "big")


def encode_face(
    user_id: int, vector: Embedding, created: float, score: float, model_ref: int, dim: int
) -> bytes:
    vector = np.asarray(vector, np.float32)
    if vector.shape != (dim,) or not np.isfinite(vector).all():
        raise ValueError(f"a face vector must be {dim} finite float32 values")
    return FACE_HEADER.pack(user_id, created, score, model_ref) + vector.tobytes()


def face_header(raw: Raw) -> tuple[int, float, float, int]:
    """(user id, created, score, model ref) of an encoded face."""
    user_id, created, score, model_ref = FACE_HEADER.unpack_from(raw)
    return int(user_id), float(created), float(score), int(model_ref)


def face_vector(raw: Raw) -> Embedding:
    """The vector of an encoded face, as a view on ``raw`` (copy it to keep it)."""
    count = (len(raw) - FACE_HEADER.size) // 4
    return np.frombuffer(raw, np.float32, count, FACE_HEADER.size)


def decode_face(face_id: int, raw: Raw) -> FaceRecord:
    user_id, created, score, model_ref = face_header(raw)
    return FaceRecord(face_id, user_id, face_vector(raw).copy(), created, score, model_ref)


def user_json(user: User) -> bytes:
    return json.dumps(
        {
            "username": user.username,
            "created": user.created,
            "status": user.status,
            "last_login": user.last_login,
            "previous_login": user.previous_login,
            "session_version": user.session_version,
        }
    ).encode()


def user_from_json(user_id: int, raw: Raw) -> User:
    data = json.loads(bytes(raw))
    return User(
        user_id,
        data["username"],
        data["created"],
        data["status"],
        data["last_login"],
        data.get("previous_login"),
        int(data.get("session_version", 0)),
    )


def model_json(model: ModelIdentity) -> bytes:
    return json.dumps(
        {"name": model.name, "weights_hash": model.weights_hash, "dim": model.dim}
    ).encode()


def model_from_json(raw: Raw) -> ModelIdentity:
    data = json.loads(bytes(raw))
    return ModelIdentity(data["name"], data["weights_hash"], int(data["dim"]))
