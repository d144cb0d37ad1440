"""What the rest of the engine may ask of the store: one narrow interface per concern.

``Accounts``, ``matching``, the index, the liveness checks and the OpenID provider see only
these protocols (and the ``Store`` that bundles them); ``store.lmdb`` and ``store.postgres``
implement them. A store holds:

- ``users``: accounts and their case-insensitive usernames;
- ``sessions``: each account's session version (a logout or deletion voids older sessions);
- ``faces``: face vectors, each with the model that made it;
- ``challenges`` and ``pending_logins``: short-lived records taken once;
- ``audit``: login and registration attempts, with retention;
- ``jobs``: small JSON records of background jobs (the index rebuild) and counters;
- ``replays``: signatures of recent passed head turns, per user;
- ``oidc``: the OpenID provider's clients, codes, tokens, consents and keys.

Every method is atomic across processes (and, on PostgreSQL, across hosts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from face_engine.store.records import FaceRecord, User
from face_engine.types import Embedding, ModelIdentity

Snapshot = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32], int]
"""(face ids, user ids, vectors (n, dim), the newest face id given when it was read)."""
DuplicateGuard = Callable[[NDArray[np.float32]], None]
"""Called inside a registration's transaction with the vectors (same model) stored after the
caller last looked; raises to refuse the registration."""
Record = dict[str, Any]
"""A JSON object as the OpenID records keep them."""


class UserTable(Protocol):
    """Accounts and usernames (unique, compared case-insensitively)."""

    def create_user(
        self,
        username: str,
        faces: Sequence[tuple[Embedding, float]],
        model: ModelIdentity,
        guard: DuplicateGuard | None = None,
        checked_through: int = 0,
    ) -> User:
        """Create a user with their faces (vector, detection score) in one transaction;
        ``guard`` sees the vectors of ``model`` stored after face id ``checked_through``.
        :raise UsernameTaken, InvalidUsername."""
        ...

    def get_user(self, user_id: int) -> User:
        """:raise UnknownUser."""
        ...

    def find_user(self, username: str) -> User:
        """The user with this username, compared case-insensitively. :raise UnknownUser."""
        ...

    def list_users(self) -> list[User]:
        """Every user, in id order."""
        ...

    def delete_user(self, user_id: int) -> None:
        """Delete the user, their faces and their replay signatures. :raise UnknownUser."""
        ...

    def record_login(self, user_id: int, when: float) -> None:
        """:raise UnknownUser."""
        ...

    def user_count(self) -> int: ...


class SessionTable(Protocol):
    """Session versions: a session issued under an older version than the user's is void."""

    def end_sessions(self, user_id: int) -> int:
        """Void every session of ``user_id``; the new version. :raise UnknownUser."""
        ...


class FaceTable(Protocol):
    """Face vectors and the models that made them (a model's ``ref`` is the store's id)."""

    def models(self) -> dict[int, ModelIdentity]:
        """Every model faces were stored with: ref -> identity."""
        ...

    def face_counts_by_model(self) -> dict[int, int]: ...

    def users_by_model(self) -> dict[int, set[int]]:
        """Model ref -> the users with at least one face made by it."""
        ...

    def faces_of(self, user_id: int) -> list[FaceRecord]: ...

    def face_count(self, user_id: int) -> int: ...

    def total_faces(self) -> int: ...

    def add_faces(
        self, user_id: int, faces: Sequence[tuple[Embedding, float]], model: ModelIdentity
    ) -> int:
        """Add faces of ``model`` to an existing user; how many. :raise UnknownUser."""
        ...

    def drop_model_faces(self, model: ModelIdentity) -> int:
        """Delete every face made by ``model`` (the end of a migration); how many."""
        ...

    def face_owners(self, face_ids: Sequence[int]) -> dict[int, int]:
        """{face id: user id} for those of ``face_ids`` that still exist."""
        ...

    def snapshot(self, after: int = 0, model: ModelIdentity | None = None) -> Snapshot:
        """All faces with id > ``after`` (of ``model`` only, when given), consistently."""
        ...

    def last_face_id(self) -> int:
        """A number that grows whenever faces are added (cheap); readers poll it."""
        ...


@dataclass(frozen=True, slots=True)
class Purged:
    """What one purge did: records removed, index entries looked at (removed + at most one)."""

    removed: int
    looked_at: int


class ExpiringTable(Protocol):
    """Short-lived records (challenges, pending logins): kept until taken once or stale."""

    def put(self, record_id: str, record: bytes, expires_at: float, now: float) -> Purged:
        """Keep ``record`` until ``expires_at``, dropping some records stale before ``now``."""
        ...

    def put_many(self, records: Iterable[tuple[str, bytes, float]], now: float) -> Purged: ...

    def take(self, record_id: str) -> bytes | None:
        """The record, deleted in the same transaction (so taken once); None if none."""
        ...

    def counts(self) -> tuple[int, int]:
        """(records, expiry index entries), for tests and benches."""
        ...


class AuditTable(Protocol):
    """Login and registration attempts, oldest dropped past the retention limits."""

    def append(self, entry: Record) -> int:
        """Add ``entry`` (it has a ``time``); its id."""
        ...

    def entries(self, limit: int, before: int | None = None) -> list[Record]:
        """Up to ``limit`` entries (each with its ``id``), newest first, ids below ``before``."""
        ...


class JobTable(Protocol):
    """Small JSON records of background jobs, and counters, shared by every process."""

    def get(self, name: str) -> Any:
        """The value under ``name``; None when absent."""
        ...

    def put(self, name: str, value: Any) -> None: ...

    def get_int(self, name: str) -> int:
        """The counter ``name`` (0 when absent)."""
        ...

    def put_int(self, name: str, value: int) -> None: ...


class ReplayTable(Protocol):
    """Signatures of each user's recent passed head turns."""

    def recent(self, user_id: int, since: float) -> list[bytes]:
        """``user_id``'s signatures kept at or after ``since`` (epoch seconds), oldest first."""
        ...

    def remember(
        self, user_id: int, signature: bytes, when: float, keep: int, since: float
    ) -> None:
        """Keep ``signature``; drop that user's entries before ``since`` and all but the
        newest ``keep``."""
        ...


class RecordTable(Protocol):
    """JSON records of one kind, by name."""

    def get(self, name: str) -> Record | None: ...

    def put(self, name: str, record: Record) -> None: ...

    def delete(self, name: str) -> bool: ...

    def all(self) -> list[Record]: ...


class ClientTable(RecordTable, Protocol):
    def create(self, client_id: str, record: Record) -> bool:
        """Add ``record`` unless ``client_id`` is taken; whether it was added."""
        ...


class CodeTable(RecordTable, Protocol):
    def add(self, code_hash: str, record: Record, now: float) -> None:
        """Keep ``record`` (it has ``expires_at``), dropping codes expired before ``now``."""
        ...

    def take(self, code_hash: str) -> tuple[Record | None, bool]:
        """The record and whether it had been taken before; it stays, marked used."""
        ...

    def attach_token(self, code_hash: str, token_hash: str) -> None: ...


class TokenTable(RecordTable, Protocol):
    def add(self, token_hash: str, record: Record, now: float) -> None: ...


class KeyTable(RecordTable, Protocol):
    def add_first(self, kid: str, record: Record) -> Record:
        """Add ``record`` unless an unretired key exists; the key to use."""
        ...

    def rotate(self, kid: str, record: Record, now: float, drop_before: float) -> None:
        """Make ``record`` the key in use, retire the others, drop those retired before
        ``drop_before``."""
        ...


@dataclass(frozen=True, slots=True)
class OidcTables:
    clients: ClientTable
    codes: CodeTable
    tokens: TokenTable
    consents: RecordTable
    keys: KeyTable


@dataclass(frozen=True, slots=True)
class Store:
    """One backend's tables. ``where`` names it in messages (a folder or a database)."""

    where: str
    backend: str
    users: UserTable
    sessions: SessionTable
    faces: FaceTable
    challenges: ExpiringTable
    pending_logins: ExpiringTable
    audit: AuditTable
    jobs: JobTable
    replays: ReplayTable
    oidc: OidcTables
    close: Callable[[], None]
