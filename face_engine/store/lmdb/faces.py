"""Face vectors and the models that made them, in LMDB (``faces``, ``user_faces``, ``models``).

A face's value is its header (user id, created, detection score, model ref) then its float32
vector (``layout.py``); ``user_faces`` lists each user's face ids. ``next_face_id`` in ``meta``
is the newest face id given: it moves only when faces are added, so readers poll it cheaply.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import lmdb
import numpy as np

from face_engine.errors import UnknownUser
from face_engine.store.interfaces import Snapshot
from face_engine.store.lmdb.database import LmdbDatabase
from face_engine.store.lmdb.layout import (
    decode_face,
    encode_face,
    face_header,
    face_vector,
    key,
    model_from_json,
    model_json,
    unkey,
)
from face_engine.store.records import FaceRecord
from face_engine.types import Embedding, ModelIdentity

Faces = Sequence[tuple[Embedding, float]]
"""Face vectors with their detection scores."""


class LmdbFaces:
    """``FaceTable`` on an LMDB store."""

    def __init__(self, database: LmdbDatabase) -> None:
        self.database = database

    def last_face_id(self) -> int:
        """The newest face id ever given (cheap: one read); it changes only when faces are added."""
        return self.database.read(lambda txn: self.database.counter(txn, b"next_face_id"))

    def models(self) -> dict[int, ModelIdentity]:
        """Every model faces were stored with: ref -> identity."""

        def collect(txn: lmdb.Transaction) -> dict[int, ModelIdentity]:
            with txn.cursor(db=self.database.db("models")) as cursor:
                return {unkey(k): model_from_json(v) for k, v in cursor}

        return self.database.read(collect)

    def face_counts_by_model(self) -> dict[int, int]:
        """Model ref -> number of stored faces made by it (reads every face header)."""
        return self._by_model()[0]

    def users_by_model(self) -> dict[int, set[int]]:
        """Model ref -> the users with at least one face made by it (reads every header)."""
        return self._by_model()[1]

    def _by_model(self) -> tuple[dict[int, int], dict[int, set[int]]]:
        """Per model ref, its faces' count and owners, from one walk over the face headers."""

        def collect(txn: lmdb.Transaction) -> tuple[dict[int, int], dict[int, set[int]]]:
            counts: dict[int, int] = {}
            owners: dict[int, set[int]] = {}
            with txn.cursor(db=self.database.db("faces")) as cursor:
                for raw in cursor.iternext(keys=False, values=True):
                    user_id, _, _, ref = face_header(raw)
                    counts[ref] = counts.get(ref, 0) + 1
                    owners.setdefault(ref, set()).add(user_id)
            return counts, owners

        return self.database.read(collect)

    def faces_of(self, user_id: int) -> list[FaceRecord]:
        def collect(txn: lmdb.Transaction) -> list[FaceRecord]:
            faces = self.database.db("faces")
            return [
                decode_face(unkey(k), raw)
                for k in face_keys(self.database, txn, user_id)
                if (raw := txn.get(k, db=faces)) is not None
            ]

        return self.database.read(collect)

    def face_count(self, user_id: int) -> int:
        """How many faces ``user_id`` has (one cursor count; no vector is read)."""

        def count(txn: lmdb.Transaction) -> int:
            with txn.cursor(db=self.database.db("user_faces")) as cursor:
                return int(cursor.count()) if cursor.set_key(key(user_id)) else 0

        return self.database.read(count)

    def total_faces(self) -> int:
        return self.database.read(lambda txn: entries(self.database, txn, "faces"))

    def add_faces(self, user_id: int, faces: Faces, model: ModelIdentity) -> int:
        """Add faces (vector, detection score) of ``model`` to an existing user (a model
        migration); how many were added. UnknownUser if the user is gone."""
        now = time.time()
        vectors = [(np.asarray(v, np.float32), float(s)) for v, s in faces]

        def add(txn: lmdb.Transaction) -> int:
            if txn.get(key(user_id), db=self.database.db("users")) is None:
                raise UnknownUser()
            put_faces(self.database, txn, user_id, vectors, model, now)
            return len(vectors)

        return self.database.write(add)

    def drop_model_faces(self, model: ModelIdentity) -> int:
        """Delete every face made by ``model`` (the end of a migration); how many."""

        def drop(txn: lmdb.Transaction) -> int:
            faces, user_faces = self.database.db("faces"), self.database.db("user_faces")
            refs = set(model_refs(self.database, txn, model))
            doomed: list[tuple[bytes, int]] = []
            with txn.cursor(db=faces) as cursor:
                for k, raw in cursor:
                    user_id, _, _, ref = face_header(raw)
                    if ref in refs:
                        doomed.append((bytes(k), user_id))
            for face_key, user_id in doomed:
                txn.delete(face_key, db=faces)
                txn.delete(key(user_id), face_key, db=user_faces)
            return len(doomed)

        return self.database.write(drop)

    def face_owners(self, face_ids: Sequence[int]) -> dict[int, int]:
        """{face id: user id} for those of ``face_ids`` that still exist."""

        def lookup(txn: lmdb.Transaction) -> dict[int, int]:
            faces = self.database.db("faces")
            owners = {}
            for face_id in face_ids:
                raw = txn.get(key(int(face_id)), db=faces)
                if raw is not None:
                    owners[int(face_id)] = face_header(raw)[0]
            return owners

        return self.database.read(lookup)

    def snapshot(self, after: int = 0, model: ModelIdentity | None = None) -> Snapshot:
        """All faces with id > ``after`` (made by ``model`` only, when given) from one
        consistent snapshot."""
        return self.database.read(lambda txn: vectors_after(self.database, txn, after, model))


def entries(database: LmdbDatabase, txn: lmdb.Transaction, name: str) -> int:
    """How many entries the named database holds."""
    return int(txn.stat(database.db(name))["entries"])


def face_keys(database: LmdbDatabase, txn: lmdb.Transaction, user_id: int) -> list[bytes]:
    """The keys of ``user_id``'s faces."""
    with txn.cursor(db=database.db("user_faces")) as cursor:
        if not cursor.set_key(key(user_id)):
            return []
        return [bytes(k) for k in cursor.iternext_dup()]


def model_refs(database: LmdbDatabase, txn: lmdb.Transaction, model: ModelIdentity) -> list[int]:
    """The refs ``model`` is stored under (one, or none yet)."""
    with txn.cursor(db=database.db("models")) as cursor:
        return [unkey(k) for k, v in cursor if model_from_json(v) == model]


def model_ref(database: LmdbDatabase, txn: lmdb.Transaction, model: ModelIdentity) -> int:
    """The ref of ``model``, added to the models table when new (inside a write)."""
    refs = model_refs(database, txn, model)
    if refs:
        return refs[0]
    ref = database.bump(txn, b"next_model_ref")
    txn.put(key(ref), model_json(model), db=database.db("models"))
    return ref


def put_faces(
    database: LmdbDatabase,
    txn: lmdb.Transaction,
    user_id: int,
    vectors: Sequence[tuple[Embedding, float]],
    model: ModelIdentity,
    now: float,
) -> None:
    """Store ``vectors`` (with scores) as ``user_id``'s faces of ``model`` (inside a write)."""
    ref = model_ref(database, txn, model)
    faces, user_faces = database.db("faces"), database.db("user_faces")
    for vector, score in vectors:
        face_id = database.bump(txn, b"next_face_id")
        txn.put(key(face_id), encode_face(user_id, vector, now, score, ref, model.dim), db=faces)
        txn.put(key(user_id), key(face_id), db=user_faces)


def vectors_after(
    database: LmdbDatabase, txn: lmdb.Transaction, after: int, model: ModelIdentity | None
) -> Snapshot:
    """The faces with id > ``after`` (of ``model`` only, when given), read inside ``txn``."""
    last = database.counter(txn, b"next_face_id")
    ref = None
    if model is not None:
        refs = model_refs(database, txn, model)
        if not refs:
            empty = np.empty(0, np.int64)
            return empty, empty.copy(), np.empty((0, model.dim), np.float32), last
        ref = refs[0]
    faces = database.db("faces")
    # Preallocated for the upper bound so a million-face snapshot holds the vectors once,
    # not once per intermediate list.
    bound = entries(database, txn, "faces")
    if after:  # a tail of recent faces: count it rather than reserve room for all
        bound = 0
        with txn.cursor(db=faces) as counter:
            if counter.set_range(key(after + 1)):
                bound = sum(1 for _ in counter.iternext(keys=True, values=False))
    ids = np.empty(bound, np.int64)
    users = np.empty(bound, np.int64)
    vectors = np.empty((bound, model.dim if model else 0), np.float32)
    n = 0
    with txn.cursor(db=faces) as cursor:
        if cursor.set_range(key(after + 1)):
            for k, raw in cursor:
                user_id, _, _, face_ref = face_header(raw)
                if ref is not None and face_ref != ref:
                    continue
                vector = face_vector(raw)
                if vectors.shape[1] != len(vector):  # model None: the first face's length
                    vectors = np.empty((bound, len(vector)), np.float32)
                ids[n], users[n], vectors[n] = unkey(k), user_id, vector
                n += 1
    return ids[:n], users[:n], vectors[:n], last
