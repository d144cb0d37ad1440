"""FaceStore: users and face vectors in LMDB, the source of truth.

Sub-databases (keys are 8-byte big-endian ids, so cursors walk them in id order):
- ``users``: user id -> JSON {username, created, status, last_login}
- ``usernames``: casefolded username (UTF-8) -> user id (unique, case-insensitive)
- ``faces``: face id -> user id, created, detection score, model ref (``<qddI``) + float32 vector
- ``user_faces``: user id -> face id (dupsort: one entry per face)
- ``models``: model ref -> JSON {name, weights_hash, dim}: which network made a face's vector
- ``audit``: entry id -> JSON (time, client, action, outcome, user, distance): login and
  registration attempts, oldest dropped past the retention limits; never photos or vectors
- ``challenges``: challenge id -> JSON (steps, client, expiry): issued, then taken once
- ``pending_logins``: pending login id -> JSON (client, expiry, vectors): the same way
- ``challenges_expiry``, ``pending_logins_expiry``: big-endian expiry (microseconds) + id ->
  empty: the stale records are the first entries (challenge_records.py)
- ``replays``: user id + time -> a passed head turn's replay signature (replay_records.py);
  created on first open, so data folders from before it open as they are
- ``oidc``: the OpenID provider's clients, codes, tokens, consents and keys (oidc_records.py)
- ``meta``: schema version, id counters (``next_face_id`` is the newest face id given, so
  readers notice new faces cheaply) and ``index_version``.

Every write is one transaction: registering a user with several faces is all or nothing, and
LMDB runs one write transaction at a time across processes, which makes a check done inside one
atomic with the write. When the map is full it is doubled and the transaction retried. The
environment is opened lazily in each process (LMDB environments must not cross a fork), so
gunicorn workers each have their own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import lmdb
import numpy as np
from numpy.typing import NDArray

from face_engine.config import StoreConfig
from face_engine.errors import InvalidUsername, StoreOutdated, UnknownUser, UsernameTaken
from face_engine.store.records import (
    FaceRecord,
    User,
    decode_face,
    encode_face,
    face_header,
    face_vector,
    key,
    model_from_json,
    model_json,
    unkey,
    user_from_json,
    user_json,
)
from face_engine.types import Embedding, ModelIdentity
from face_engine.usernames import normalise_username

SCHEMA_VERSION = 2
T = TypeVar("T")
Snapshot = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32], int]
"""(face ids, user ids, vectors (n, dim), the newest face id given when it was read)."""
DuplicateGuard = Callable[[NDArray[np.float32]], None]
"""Called inside a registration's write transaction with the vectors (same model) stored after
the caller last looked; raises to refuse the registration."""


class FaceStore:
    """Accounts and face vectors in an LMDB environment at ``path`` (a folder)."""

    def __init__(self, path: Path, config: StoreConfig) -> None:
        self.path = Path(path)
        self.config = config
        self._env: lmdb.Environment | None = None
        self._pid = -1
        self._lock = threading.Lock()
        self._dbs: dict[str, Any] = {}

    # -- environment ---------------------------------------------------------------------

    @property
    def env(self) -> lmdb.Environment:
        """This process's environment, opened on first use (and again after a fork)."""
        if self._env is None or self._pid != os.getpid():
            with self._lock:
                if self._env is None or self._pid != os.getpid():
                    self._open()
        assert self._env is not None
        return self._env

    def _open(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = lmdb.open(
            str(self.path),
            map_size=self.config.map_size_mb * 1024 * 1024,
            max_dbs=16,
            max_readers=self.config.max_readers,
            subdir=True,
            lock=True,
            metasync=True,
            sync=True,
            mode=0o600,
        )
        while True:
            try:
                dbs = {
                    "users": env.open_db(b"users"),
                    "usernames": env.open_db(b"usernames"),
                    "faces": env.open_db(b"faces"),
                    "user_faces": env.open_db(b"user_faces", dupsort=True),
                    "models": env.open_db(b"models"),
                    "meta": env.open_db(b"meta"),
                    "challenges": env.open_db(b"challenges"),
                    "pending_logins": env.open_db(b"pending_logins"),
                    "challenges_expiry": env.open_db(b"challenges_expiry"),
                    "pending_logins_expiry": env.open_db(b"pending_logins_expiry"),
                    "audit": env.open_db(b"audit"),
                    "oidc": env.open_db(b"oidc"),
                    "replays": env.open_db(b"replays"),
                }
                with env.begin(write=True, db=dbs["meta"]) as txn:
                    found = txn.get(b"schema_version")
                    if found is None:
                        txn.put(b"schema_version", str(SCHEMA_VERSION).encode())
                    elif int(found) != SCHEMA_VERSION:
                        raise StoreOutdated(
                            f"the data in {self.path} has store schema {int(found)}, this "
                            f"version reads schema {SCHEMA_VERSION} (faces now record the model "
                            "that made them). Photos are not kept, so the faces cannot be "
                            "converted: move the data directory away and have people register "
                            "again, or run the release that wrote it"
                        )
                break
            except lmdb.MapResizedError:
                env.set_mapsize(0)  # another process grew the map since we opened it
        self._env, self._dbs, self._pid = env, dbs, os.getpid()

    def db(self, name: str) -> Any:
        """The named sub-database (opening the environment if needed)."""
        self.env  # noqa: B018 - opens the environment (and the named databases) if needed
        return self._dbs[name]

    def close(self) -> None:
        if self._env is not None and self._pid == os.getpid():
            self._env.close()
        self._env = None

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in one write transaction; grow the map and retry when it is full."""
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    return fn(txn)
            except lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
            except lmdb.MapResizedError:
                self.env.set_mapsize(0)  # another process grew the map: adopt its size

    def read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in a read transaction (a consistent snapshot)."""
        while True:
            try:
                with self.env.begin() as txn:
                    return fn(txn)
            except lmdb.MapResizedError:
                self.env.set_mapsize(0)

    def bump(self, txn: lmdb.Transaction, name: bytes, by: int = 1) -> int:
        """Add ``by`` to the counter ``name`` in ``meta`` (inside ``txn``); its new value."""
        value = int(bytes(txn.get(name, b"0", db=self._dbs["meta"]))) + by
        txn.put(name, str(value).encode(), db=self._dbs["meta"])
        return value

    def meta_int(self, name: str, txn: lmdb.Transaction | None = None) -> int:
        if txn is None:
            return self.read(lambda t: self.meta_int(name, t))
        return int(bytes(txn.get(name.encode(), b"0", db=self.db("meta"))))

    def set_meta_int(self, name: str, value: int) -> None:
        self.write(lambda txn: txn.put(name.encode(), str(value).encode(), db=self._dbs["meta"]))

    def meta_json(self, name: str) -> Any:
        """A JSON value kept in ``meta`` (None when absent)."""
        raw = self.read(lambda txn: txn.get(name.encode(), db=self.db("meta")))
        return None if raw is None else json.loads(bytes(raw))

    def set_meta_json(self, name: str, value: Any) -> None:
        data = json.dumps(value).encode()
        self.write(lambda txn: txn.put(name.encode(), data, db=self._dbs["meta"]))

    def last_face_id(self) -> int:
        """The newest face id ever given (cheap: one read); it changes only when faces are added."""
        return self.meta_int("next_face_id")

    # -- models --------------------------------------------------------------------------

    def _model_ref(self, txn: lmdb.Transaction, model: ModelIdentity) -> int:
        """The ref of ``model`` in the models table, added when new (inside a write)."""
        with txn.cursor(db=self._dbs["models"]) as cursor:
            for raw_key, raw in cursor:
                if model_from_json(raw) == model:
                    return unkey(raw_key)
        ref = self.bump(txn, b"next_model_ref")
        txn.put(key(ref), model_json(model), db=self._dbs["models"])
        return ref

    def models(self) -> dict[int, ModelIdentity]:
        """Every model faces were stored with: ref -> identity."""

        def collect(txn: lmdb.Transaction) -> dict[int, ModelIdentity]:
            with txn.cursor(db=self._dbs["models"]) as cursor:
                return {unkey(k): model_from_json(v) for k, v in cursor}

        self.db("models")
        return self.read(collect)

    def face_counts_by_model(self) -> dict[int, int]:
        """Model ref -> number of stored faces made by it (reads every face header)."""

        def count(txn: lmdb.Transaction) -> dict[int, int]:
            counts: dict[int, int] = {}
            with txn.cursor(db=self._dbs["faces"]) as cursor:
                for raw in cursor.iternext(keys=False, values=True):
                    ref = face_header(raw)[3]
                    counts[ref] = counts.get(ref, 0) + 1
            return counts

        self.db("faces")
        return self.read(count)

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        faces: Sequence[tuple[Embedding, float]],
        model: ModelIdentity,
        guard: DuplicateGuard | None = None,
        checked_through: int = 0,
    ) -> User:
        """Create a user with their faces (vector, detection score) in one transaction.

        ``guard`` sees, inside the transaction, the vectors of ``model`` stored after face id
        ``checked_through`` (what the caller has not compared yet) and may raise to refuse:
        a duplicate check done there is atomic with the write, across processes.
        """
        name = normalise_username(username)
        now = time.time()
        vectors = [(np.asarray(v, np.float32), float(s)) for v, s in faces]

        def create(txn: lmdb.Transaction) -> User:
            folded = name.casefold().encode()
            if txn.get(folded, db=self._dbs["usernames"]) is not None:
                raise UsernameTaken(f"the username {name!r} is already registered")
            ref = self._model_ref(txn, model)
            if guard is not None:
                guard(self._vectors_after(txn, checked_through, model)[2])
            user_id = self.bump(txn, b"next_user_id")
            txn.put(folded, key(user_id), db=self._dbs["usernames"])
            user = User(user_id, name, now, "active", None)
            txn.put(key(user_id), user_json(user), db=self._dbs["users"])
            for vector, score in vectors:
                face_id = self.bump(txn, b"next_face_id")
                record = encode_face(user_id, vector, now, score, ref, model.dim)
                txn.put(key(face_id), record, db=self._dbs["faces"])
                txn.put(key(user_id), key(face_id), db=self._dbs["user_faces"])
            return user

        return self.write(create)

    def end_sessions(self, user_id: int) -> int:
        """Void every session of ``user_id`` (its session version grows); the new version."""

        def bump(txn: lmdb.Transaction) -> int:
            raw = txn.get(key(user_id), db=self._dbs["users"])
            if raw is None:
                raise UnknownUser()
            user = user_from_json(user_id, raw)
            updated = dataclasses.replace(user, session_version=user.session_version + 1)
            txn.put(key(user_id), user_json(updated), db=self._dbs["users"])
            return updated.session_version

        return self.write(bump)

    def get_user(self, user_id: int) -> User:
        raw = self.read(lambda txn: txn.get(key(user_id), db=self.db("users")))
        if raw is None:
            raise UnknownUser()
        return user_from_json(user_id, raw)

    def find_user(self, username: str) -> User:
        """The user with this username, compared case-insensitively."""
        try:
            folded = normalise_username(username).casefold().encode()
        except InvalidUsername as e:
            raise UnknownUser() from e
        raw_id = self.read(lambda txn: txn.get(folded, db=self.db("usernames")))
        if raw_id is None:
            raise UnknownUser()
        return self.get_user(unkey(raw_id))

    def list_users(self) -> list[User]:
        def collect(txn: lmdb.Transaction) -> list[User]:
            with txn.cursor(db=self._dbs["users"]) as cursor:
                return [user_from_json(unkey(k), v) for k, v in cursor]

        self.db("users")
        return self.read(collect)

    def delete_user(self, user_id: int) -> None:
        """Delete the user and all their faces."""

        def delete(txn: lmdb.Transaction) -> None:
            raw = txn.get(key(user_id), db=self._dbs["users"])
            if raw is None:
                raise UnknownUser()
            user = user_from_json(user_id, raw)
            with txn.cursor(db=self._dbs["user_faces"]) as cursor:
                found = cursor.set_key(key(user_id))
                face_keys = [bytes(k) for k in cursor.iternext_dup()] if found else []
            for face_key in face_keys:
                txn.delete(face_key, db=self._dbs["faces"])
            txn.delete(key(user_id), db=self._dbs["user_faces"])
            txn.delete(user.username.casefold().encode(), db=self._dbs["usernames"])
            txn.delete(key(user_id), db=self._dbs["users"])
            replays = self._dbs["replays"]
            with txn.cursor(db=replays) as cursor:  # user id + time keys: the user's run
                while cursor.set_range(key(user_id)) and bytes(cursor.key())[:8] == key(user_id):
                    cursor.delete()

        self.write(delete)

    def record_login(self, user_id: int, when: float) -> None:
        def record(txn: lmdb.Transaction) -> None:
            raw = txn.get(key(user_id), db=self._dbs["users"])
            if raw is None:
                raise UnknownUser()
            user = user_from_json(user_id, raw)
            updated = dataclasses.replace(user, last_login=when, previous_login=user.last_login)
            txn.put(key(user_id), user_json(updated), db=self._dbs["users"])

        self.write(record)

    # -- faces ---------------------------------------------------------------------------

    def faces_of(self, user_id: int) -> list[FaceRecord]:
        def collect(txn: lmdb.Transaction) -> list[FaceRecord]:
            with txn.cursor(db=self._dbs["user_faces"]) as cursor:
                if not cursor.set_key(key(user_id)):
                    return []
                face_keys = [bytes(k) for k in cursor.iternext_dup()]
            return [
                decode_face(unkey(k), raw)
                for k in face_keys
                if (raw := txn.get(k, db=self._dbs["faces"])) is not None
            ]

        self.db("faces")
        return self.read(collect)

    def face_count(self, user_id: int) -> int:
        """How many faces ``user_id`` has (one cursor count; no vector is read)."""

        def count(txn: lmdb.Transaction) -> int:
            with txn.cursor(db=self._dbs["user_faces"]) as cursor:
                return int(cursor.count()) if cursor.set_key(key(user_id)) else 0

        self.db("faces")
        return self.read(count)

    def add_faces(
        self, user_id: int, faces: Sequence[tuple[Embedding, float]], model: ModelIdentity
    ) -> int:
        """Add faces (vector, detection score) of ``model`` to an existing user (a model
        migration); how many were added. UnknownUser if the user is gone."""
        now = time.time()
        vectors = [(np.asarray(v, np.float32), float(s)) for v, s in faces]

        def add(txn: lmdb.Transaction) -> int:
            if txn.get(key(user_id), db=self._dbs["users"]) is None:
                raise UnknownUser()
            ref = self._model_ref(txn, model)
            for vector, score in vectors:
                face_id = self.bump(txn, b"next_face_id")
                record = encode_face(user_id, vector, now, score, ref, model.dim)
                txn.put(key(face_id), record, db=self._dbs["faces"])
                txn.put(key(user_id), key(face_id), db=self._dbs["user_faces"])
            return len(vectors)

        return self.write(add)

    def users_by_model(self) -> dict[int, set[int]]:
        """Model ref -> the users with at least one face made by it (reads every header)."""

        def collect(txn: lmdb.Transaction) -> dict[int, set[int]]:
            users: dict[int, set[int]] = {}
            with txn.cursor(db=self._dbs["faces"]) as cursor:
                for raw in cursor.iternext(keys=False, values=True):
                    user_id, _, _, ref = face_header(raw)
                    users.setdefault(ref, set()).add(user_id)
            return users

        self.db("faces")
        return self.read(collect)

    def drop_model_faces(self, model: ModelIdentity) -> int:
        """Delete every face made by ``model`` (the end of a migration); how many."""

        def drop(txn: lmdb.Transaction) -> int:
            with txn.cursor(db=self._dbs["models"]) as cursor:
                refs = {unkey(k) for k, v in cursor if model_from_json(v) == model}
            doomed: list[tuple[bytes, int]] = []
            with txn.cursor(db=self._dbs["faces"]) as cursor:
                for k, raw in cursor:
                    user_id, _, _, ref = face_header(raw)
                    if ref in refs:
                        doomed.append((bytes(k), user_id))
            for face_key, user_id in doomed:
                txn.delete(face_key, db=self._dbs["faces"])
                txn.delete(key(user_id), face_key, db=self._dbs["user_faces"])
            return len(doomed)

        self.db("faces")
        return self.write(drop)

    def face_owners(self, face_ids: Sequence[int]) -> dict[int, int]:
        """{face id: user id} for those of ``face_ids`` that still exist."""

        def lookup(txn: lmdb.Transaction) -> dict[int, int]:
            owners = {}
            for face_id in face_ids:
                raw = txn.get(key(int(face_id)), db=self._dbs["faces"])
                if raw is not None:
                    owners[int(face_id)] = face_header(raw)[0]
            return owners

        self.db("faces")
        return self.read(lookup)

    def snapshot(self, after: int = 0, model: ModelIdentity | None = None) -> Snapshot:
        """All faces with id > ``after`` (made by ``model`` only, when given) from one
        consistent snapshot."""
        self.db("faces")
        return self.read(lambda txn: self._vectors_after(txn, after, model))

    def _vectors_after(
        self, txn: lmdb.Transaction, after: int, model: ModelIdentity | None
    ) -> Snapshot:
        ref = None
        if model is not None:
            with txn.cursor(db=self._dbs["models"]) as cursor:
                refs = [unkey(k) for k, v in cursor if model_from_json(v) == model]
            if not refs:
                empty = np.empty(0, np.int64)
                last = self.meta_int("next_face_id", txn)
                return empty, empty.copy(), np.empty((0, model.dim), np.float32), last
            ref = refs[0]
        # Preallocated for the upper bound so a million-face snapshot holds the vectors once,
        # not once per intermediate list.
        bound = txn.stat(self._dbs["faces"])["entries"]
        if after:  # a tail of recent faces: count it rather than reserve room for all
            bound = 0
            with txn.cursor(db=self._dbs["faces"]) as counter:
                if counter.set_range(key(after + 1)):
                    bound = sum(1 for _ in counter.iternext(keys=True, values=False))
        ids = np.empty(bound, np.int64)
        users = np.empty(bound, np.int64)
        vectors = np.empty((bound, model.dim if model else 0), np.float32)
        n = 0
        with txn.cursor(db=self._dbs["faces"]) as cursor:
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
        return ids[:n], users[:n], vectors[:n], self.meta_int("next_face_id", txn)

    def counts(self) -> tuple[int, int]:
        """(users, faces)."""

        def count(txn: lmdb.Transaction) -> tuple[int, int]:
            return (
                int(txn.stat(self._dbs["users"])["entries"]),
                int(txn.stat(self._dbs["faces"])["entries"]),
            )

        self.db("faces")
        return self.read(count)
