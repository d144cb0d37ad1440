"""Users, session versions, faces and models in PostgreSQL (UserTable, SessionTable, FaceTable),
and the pgvector queries the 1:N search runs (``face_engine.index.pgvector`` wraps them).

Atomicity across hosts:
- Every transaction that adds faces first bumps ``face_ids.last`` (an UPDATE, so it holds that
  row's lock until it commits) and gives its faces the ids below the new value. Face writers
  therefore run one at a time and commit in id order: ``last_face_id`` read anywhere is a face
  id all of whose predecessors are visible, which a sequence does not give (its values commit
  in any order).
- A registration takes that lock before it looks at the username or calls the duplicate guard,
  so the guard's read of the faces stored after ``checked_through`` sees every registration
  that committed before it, and none can commit meanwhile: exactly one of two registrations of
  one face wins, on any number of hosts.
- ``models.faces`` counts each model's faces in the same transactions, so the gallery size is
  one small read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from face_engine.errors import InvalidUsername, UnknownUser, UsernameTaken
from face_engine.store.interfaces import DuplicateGuard, Snapshot
from face_engine.store.postgres.connections import Pool
from face_engine.store.records import FaceRecord, User
from face_engine.types import Embedding, ModelIdentity
from face_engine.usernames import normalise_username

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
USER_COLUMNS = "id, username, created, status, last_login, previous_login, session_version"


def vector_text(vector: Embedding, dim: int) -> str:
    """pgvector's text form of ``vector``: every float32 exactly (repr round-trips)."""
    values = np.asarray(vector, np.float32).reshape(-1)
    if values.shape != (dim,) or not np.isfinite(values).all():
        raise ValueError(f"a face vector must be {dim} finite float32 values")
    return "[" + ",".join(map(repr, values.tolist())) + "]"


def vector_of(raw: bytes) -> NDArray[np.float32]:
    """A vector from ``vector_send``'s bytes (dim, unused, big-endian float32s)."""
    dim = int.from_bytes(raw[:2], "big")
    return np.frombuffer(raw, ">f4", dim, 4).astype(np.float32)


def index_name(ref: int) -> str:
    return f"faces_hnsw_{ref}"


def hnsw_index_sql(ref: int, dim: int, concurrently: bool = False) -> sql.Composed:
    """The partial HNSW index of model ``ref``'s faces (vector_l2_ops: Euclidean)."""
    return sql.SQL(
        "CREATE INDEX {concurrently} {name} ON faces USING hnsw "
        "((embedding::vector({dim})) vector_l2_ops) WITH (m = {m}, ef_construction = {efc}) "
        "WHERE model_id = {ref}"
    ).format(
        concurrently=sql.SQL("CONCURRENTLY" if concurrently else ""),
        name=sql.Identifier(index_name(ref)),
        dim=sql.Literal(dim),
        m=sql.Literal(HNSW_M),
        efc=sql.Literal(HNSW_EF_CONSTRUCTION),
        ref=sql.Literal(ref),
    )


def _user(row: Sequence[Any]) -> User:
    return User(
        int(row[0]),
        str(row[1]),
        float(row[2]),
        str(row[3]),
        row[4],
        row[5],
        int(row[6]),
    )


class PgFaceStore:
    """Users (with their session version), faces and models; one per process is enough."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._refs: dict[ModelIdentity, int] = {}

    # -- models --------------------------------------------------------------------------

    def model_ref(self, model: ModelIdentity, create: bool = True) -> int | None:
        """The id of ``model``; added with its HNSW index when new (and ``create``)."""
        if model in self._refs:
            return self._refs[model]
        find = "SELECT id FROM models WHERE name = %s AND weights_hash = %s AND dim = %s"
        params = (model.name, model.weights_hash, model.dim)
        with self.pool.transaction() as conn:
            row = conn.execute(find, params).fetchone()
            if row is None and create:
                # One creator across hosts; the index exists whenever its model row does.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.pool.lock("models"),))
                row = conn.execute(find, params).fetchone()
                if row is None:
                    row = conn.execute(
                        "INSERT INTO models (name, weights_hash, dim) VALUES (%s, %s, %s) "
                        "RETURNING id",
                        params,
                    ).fetchone()
                    assert row is not None
                    conn.execute(hnsw_index_sql(int(row[0]), model.dim))
        if row is None:
            return None
        self._refs[model] = int(row[0])
        return self._refs[model]

    def models(self) -> dict[int, ModelIdentity]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT id, name, weights_hash, dim FROM models ORDER BY id")
            return {int(r[0]): ModelIdentity(r[1], r[2], int(r[3])) for r in rows}

    def face_counts_by_model(self) -> dict[int, int]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT id, faces FROM models WHERE faces > 0 ORDER BY id")
            return {int(r[0]): int(r[1]) for r in rows}

    def users_by_model(self) -> dict[int, set[int]]:
        users: dict[int, set[int]] = {}
        with self.pool.connection() as conn:
            for ref, user_id in conn.execute("SELECT DISTINCT model_id, user_id FROM faces"):
                users.setdefault(int(ref), set()).add(int(user_id))
        return users

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        faces: Sequence[tuple[Embedding, float]],
        model: ModelIdentity,
        guard: DuplicateGuard | None = None,
        checked_through: int = 0,
    ) -> User:
        """Create a user with their faces in one transaction; ``guard`` sees the vectors of
        ``model`` stored after face id ``checked_through``, with every other face writer
        held off until this one commits."""
        name = normalise_username(username)
        rows = [(vector_text(v, model.dim), float(s)) for v, s in faces]
        ref = self.model_ref(model)
        assert ref is not None
        now = time.time()
        try:
            with self.pool.transaction() as conn:
                last = self._take_face_ids(conn, len(rows))
                taken = conn.execute("SELECT 1 FROM users WHERE folded = %s", (name.casefold(),))
                if taken.fetchone() is not None:
                    raise UsernameTaken(f"the username {name!r} is already registered")
                if guard is not None:
                    guard(self._vectors_after(conn, checked_through, ref, model.dim)[2])
                row = conn.execute(
                    "INSERT INTO users (username, folded, created, status) "
                    f"VALUES (%s, %s, %s, 'active') RETURNING {USER_COLUMNS}",
                    (name, name.casefold(), now),
                ).fetchone()
                assert row is not None
                user = _user(row)
                self._insert_faces(conn, user.id, rows, ref, last, now)
        except psycopg.errors.UniqueViolation as e:  # only if the lock above were bypassed
            raise UsernameTaken(f"the username {name!r} is already registered") from e
        return user

    def get_user(self, user_id: int) -> User:
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,)
            ).fetchone()
        if row is None:
            raise UnknownUser()
        return _user(row)

    def find_user(self, username: str) -> User:
        try:
            folded = normalise_username(username).casefold()
        except InvalidUsername as e:
            raise UnknownUser() from e
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE folded = %s", (folded,)
            ).fetchone()
        if row is None:
            raise UnknownUser()
        return _user(row)

    def list_users(self) -> list[User]:
        with self.pool.connection() as conn:
            return [_user(r) for r in conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY id")]

    def user_count(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM users").fetchone()
        return int(row[0]) if row else 0

    def delete_user(self, user_id: int) -> None:
        """Delete the user, their faces (uncounted from their models) and replays."""
        with self.pool.transaction() as conn:
            found = conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user_id,))
            if found.fetchone() is None:
                raise UnknownUser()
            gone = conn.execute(
                "DELETE FROM faces WHERE user_id = %s RETURNING model_id", (user_id,)
            ).fetchall()
            self._uncount(conn, [int(r[0]) for r in gone])
            conn.execute("DELETE FROM users WHERE id = %s", (user_id,))

    def record_login(self, user_id: int, when: float) -> None:
        with self.pool.connection() as conn:
            done = conn.execute(
                "UPDATE users SET previous_login = last_login, last_login = %s WHERE id = %s",
                (when, user_id),
            )
            if done.rowcount == 0:
                raise UnknownUser()

    def end_sessions(self, user_id: int) -> int:
        """Void every session of ``user_id``; the new session version."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "UPDATE users SET session_version = session_version + 1 WHERE id = %s "
                "RETURNING session_version",
                (user_id,),
            ).fetchone()
        if row is None:
            raise UnknownUser()
        return int(row[0])

    # -- faces ---------------------------------------------------------------------------

    def faces_of(self, user_id: int) -> list[FaceRecord]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, user_id, vector_send(embedding), created, score, model_id "
                "FROM faces WHERE user_id = %s ORDER BY id",
                (user_id,),
            ).fetchall()
        return [
            FaceRecord(int(r[0]), int(r[1]), vector_of(r[2]), float(r[3]), float(r[4]), int(r[5]))
            for r in rows
        ]

    def face_count(self, user_id: int) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM faces WHERE user_id = %s", (user_id,))
            found = row.fetchone()
        return int(found[0]) if found else 0

    def total_faces(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT coalesce(sum(faces), 0) FROM models").fetchone()
        return int(row[0]) if row else 0

    def add_faces(
        self, user_id: int, faces: Sequence[tuple[Embedding, float]], model: ModelIdentity
    ) -> int:
        """Add faces of ``model`` to an existing user; how many. :raise UnknownUser."""
        rows = [(vector_text(v, model.dim), float(s)) for v, s in faces]
        ref = self.model_ref(model)
        assert ref is not None
        now = time.time()
        with self.pool.transaction() as conn:
            last = self._take_face_ids(conn, len(rows))
            found = conn.execute("SELECT 1 FROM users WHERE id = %s FOR KEY SHARE", (user_id,))
            if found.fetchone() is None:
                raise UnknownUser()
            self._insert_faces(conn, user_id, rows, ref, last, now)
        return len(rows)

    def drop_model_faces(self, model: ModelIdentity) -> int:
        ref = self.model_ref(model, create=False)
        if ref is None:
            return 0
        with self.pool.transaction() as conn:
            gone = conn.execute("DELETE FROM faces WHERE model_id = %s", (ref,)).rowcount
            conn.execute("UPDATE models SET faces = faces - %s WHERE id = %s", (gone, ref))
        return int(gone)

    def face_owners(self, face_ids: Sequence[int]) -> dict[int, int]:
        if not face_ids:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, user_id FROM faces WHERE id = ANY(%s)", ([int(i) for i in face_ids],)
            )
            return {int(r[0]): int(r[1]) for r in rows}

    def snapshot(self, after: int = 0, model: ModelIdentity | None = None) -> Snapshot:
        """All faces with id > ``after`` (of ``model`` only, when given), read in one
        repeatable-read snapshot with the newest face id."""
        ref = None if model is None else self.model_ref(model, create=False)
        dim = 0 if model is None else model.dim
        with self.pool.connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                if model is not None and ref is None:
                    empty = np.empty(0, np.int64)
                    return empty, empty.copy(), np.empty((0, dim), np.float32), self._last(conn)
                return self._vectors_after(conn, after, ref, dim)
            finally:
                conn.execute("COMMIT")

    def last_face_id(self) -> int:
        """The newest face id committed (all below it are visible too)."""
        with self.pool.connection() as conn:
            return self._last(conn)

    def counts(self) -> tuple[int, int]:
        """(users, faces)."""
        return self.user_count(), self.total_faces()

    # -- inside transactions ---------------------------------------------------------------

    @staticmethod
    def _last(conn: psycopg.Connection) -> int:
        row = conn.execute("SELECT last FROM face_ids").fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _take_face_ids(conn: psycopg.Connection, count: int) -> int:
        """Reserve ``count`` face ids (the lock every face writer takes first); the last."""
        row = conn.execute(
            "UPDATE face_ids SET last = last + %s RETURNING last", (count,)
        ).fetchone()
        assert row is not None
        return int(row[0])

    @staticmethod
    def _insert_faces(
        conn: psycopg.Connection,
        user_id: int,
        rows: Sequence[tuple[str, float]],
        ref: int,
        last: int,
        now: float,
    ) -> None:
        first = last - len(rows) + 1
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO faces (id, user_id, model_id, created, score, embedding) "
                "VALUES (%s, %s, %s, %s, %s, %s::vector)",
                [(first + i, user_id, ref, now, s, text) for i, (text, s) in enumerate(rows)],
            )
        conn.execute("UPDATE models SET faces = faces + %s WHERE id = %s", (len(rows), ref))

    @staticmethod
    def _uncount(conn: psycopg.Connection, refs: list[int]) -> None:
        """Take deleted faces off their models' counts (in ref order: no deadlock)."""
        for ref in sorted(set(refs)):
            conn.execute(
                "UPDATE models SET faces = faces - %s WHERE id = %s", (refs.count(ref), ref)
            )

    def _vectors_after(
        self, conn: psycopg.Connection, after: int, ref: int | None, dim: int
    ) -> Snapshot:
        last = self._last(conn)
        if ref is None:
            query = (
                "SELECT id, user_id, vector_send(embedding) FROM faces WHERE id > %s ORDER BY id"
            )
            rows = conn.execute(query, (after,)).fetchall()
        else:
            query = (
                "SELECT id, user_id, vector_send(embedding) FROM faces "
                "WHERE model_id = %s AND id > %s ORDER BY id"
            )
            rows = conn.execute(query, (ref, after)).fetchall()
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        users = np.fromiter((r[1] for r in rows), np.int64, len(rows))
        if rows:
            vectors = np.stack([vector_of(r[2]) for r in rows])
        else:
            vectors = np.empty((0, dim), np.float32)
        return ids, users, vectors, last

    # -- the 1:N search (face_engine.index.pgvector) ------------------------------------------

    def nearest(
        self, model: ModelIdentity, vector: Embedding, candidates: int, ef_search: int
    ) -> list[tuple[int, int, NDArray[np.float32]]]:
        """(face id, user id, vector) of the ``candidates`` nearest faces of ``model`` by its
        HNSW index, with ``hnsw.ef_search`` set for this query only."""
        ref = self.model_ref(model, create=False)
        if ref is None:
            return []
        query = sql.SQL(
            "SELECT id, user_id, vector_send(embedding) FROM faces WHERE model_id = {ref} "
            "ORDER BY embedding::vector({dim}) <-> %s::vector({dim}) LIMIT %s"
        ).format(ref=sql.Literal(ref), dim=sql.Literal(model.dim))
        text = vector_text(vector, model.dim)
        with self.pool.transaction() as conn:
            conn.execute(
                sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(int(ef_search)))
            )
            rows = conn.execute(query, (text, candidates), prepare=True).fetchall()
        return [(int(r[0]), int(r[1]), vector_of(r[2])) for r in rows]

    def model_face_count(self, model: ModelIdentity) -> int:
        ref = self.model_ref(model, create=False)
        if ref is None:
            return 0
        with self.pool.connection() as conn:
            row = conn.execute("SELECT faces FROM models WHERE id = %s", (ref,)).fetchone()
        return int(row[0]) if row else 0

    def index_bytes(self, model: ModelIdentity) -> int:
        """The size of ``model``'s HNSW index (0 when it has none)."""
        ref = self.model_ref(model, create=False)
        if ref is None:
            return 0
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT pg_relation_size(to_regclass(%s))", (index_name(ref),)
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0
