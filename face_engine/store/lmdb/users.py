"""Accounts, usernames and session versions in LMDB (``users``, ``usernames``).

A user's value is JSON (``layout.py``); ``usernames`` maps each casefolded username to its
user id, so a name is taken once, case-insensitively. Registering writes the user and their
faces in one transaction, and the duplicate check runs inside it: two registrations of one
face racing each other cannot both pass, across processes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import lmdb
import numpy as np

from face_engine.errors import InvalidUsername, UnknownUser, UsernameTaken
from face_engine.store.interfaces import DuplicateGuard
from face_engine.store.lmdb.database import LmdbDatabase
from face_engine.store.lmdb.faces import Faces, entries, face_keys, put_faces, vectors_after
from face_engine.store.lmdb.layout import key, unkey, user_from_json, user_json
from face_engine.store.records import User
from face_engine.types import ModelIdentity
from face_engine.usernames import normalise_username


class LmdbUsers:
    """``UserTable`` and ``SessionTable`` on an LMDB store (a session version is a field of
    the user's record)."""

    def __init__(self, database: LmdbDatabase) -> None:
        self.database = database

    def create_user(
        self,
        username: str,
        faces: Faces,
        model: ModelIdentity,
        guard: DuplicateGuard | None = None,
        checked_through: int = 0,
    ) -> User:
        """Create a user with their faces (vector, detection score) in one transaction.

        ``guard`` sees, inside the transaction, the vectors of ``model`` stored after face id
        ``checked_through`` (what the caller has not compared yet) and may raise to refuse.
        """
        name = normalise_username(username)
        now = time.time()
        vectors = [(np.asarray(v, np.float32), float(s)) for v, s in faces]

        def create(txn: lmdb.Transaction) -> User:
            usernames = self.database.db("usernames")
            folded = name.casefold().encode()
            if txn.get(folded, db=usernames) is not None:
                raise UsernameTaken(f"the username {name!r} is already registered")
            if guard is not None:
                guard(vectors_after(self.database, txn, checked_through, model)[2])
            user_id = self.database.bump(txn, b"next_user_id")
            txn.put(folded, key(user_id), db=usernames)
            user = User(user_id, name, now, "active", None)
            txn.put(key(user_id), user_json(user), db=self.database.db("users"))
            put_faces(self.database, txn, user_id, vectors, model, now)
            return user

        return self.database.write(create)

    def get_user(self, user_id: int) -> User:
        raw = self.database.read(lambda txn: txn.get(key(user_id), db=self.database.db("users")))
        if raw is None:
            raise UnknownUser()
        return user_from_json(user_id, raw)

    def find_user(self, username: str) -> User:
        """The user with this username, compared case-insensitively."""
        try:
            folded = normalise_username(username).casefold().encode()
        except InvalidUsername as e:
            raise UnknownUser() from e
        raw_id = self.database.read(lambda txn: txn.get(folded, db=self.database.db("usernames")))
        if raw_id is None:
            raise UnknownUser()
        return self.get_user(unkey(raw_id))

    def list_users(self) -> list[User]:
        def collect(txn: lmdb.Transaction) -> list[User]:
            with txn.cursor(db=self.database.db("users")) as cursor:
                return [user_from_json(unkey(k), v) for k, v in cursor]

        return self.database.read(collect)

    def user_count(self) -> int:
        return self.database.read(lambda txn: entries(self.database, txn, "users"))

    def delete_user(self, user_id: int) -> None:
        """Delete the user, all their faces and their replay signatures."""

        def delete(txn: lmdb.Transaction) -> None:
            user = self._user(txn, user_id)
            for face_key in face_keys(self.database, txn, user_id):
                txn.delete(face_key, db=self.database.db("faces"))
            txn.delete(key(user_id), db=self.database.db("user_faces"))
            txn.delete(user.username.casefold().encode(), db=self.database.db("usernames"))
            txn.delete(key(user_id), db=self.database.db("users"))
            with txn.cursor(db=self.database.db("replays")) as cursor:  # user id + time keys
                while cursor.set_range(key(user_id)) and bytes(cursor.key())[:8] == key(user_id):
                    cursor.delete()

        self.database.write(delete)

    def record_login(self, user_id: int, when: float) -> None:
        self._update(
            user_id,
            lambda user: dataclasses.replace(user, last_login=when, previous_login=user.last_login),
        )

    def end_sessions(self, user_id: int) -> int:
        """Void every session of ``user_id`` (its session version grows); the new version."""
        updated = self._update(
            user_id,
            lambda user: dataclasses.replace(user, session_version=user.session_version + 1),
        )
        return updated.session_version

    def _update(self, user_id: int, change: Callable[[User], User]) -> User:
        """Rewrite ``user_id``'s record as ``change`` makes it, in one transaction."""

        def update(txn: lmdb.Transaction) -> User:
            updated = change(self._user(txn, user_id))
            txn.put(key(user_id), user_json(updated), db=self.database.db("users"))
            return updated

        return self.database.write(update)

    def _user(self, txn: lmdb.Transaction, user_id: int) -> User:
        raw = txn.get(key(user_id), db=self.database.db("users"))
        if raw is None:
            raise UnknownUser()
        return user_from_json(user_id, raw)
