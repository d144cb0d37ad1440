"""The schema, as versioned migrations the service applies when it opens the store.

``schema_migrations`` holds one row per applied version. Opening takes a transaction-level
advisory lock (one key for the whole database), reads the newest version applied and applies
the missing ones in order, each recorded in the same transaction; two hosts starting together
therefore apply each migration once (the second waits, then finds nothing to do). A database
whose version is newer than this code knows is refused (StoreOutdated): the code it was
written by must be run, never this one on it.

Faces: ``embedding`` is an untyped ``vector`` (models differ in length); each model gets its
own partial HNSW index over ``embedding::vector(dim)`` when its first face is stored
(``faces.hnsw_index_sql``). Face ids come from ``face_ids.last``, bumped inside every
transaction that adds faces (its row lock makes those transactions commit in id order).
"""

from __future__ import annotations

import psycopg

from face_engine.errors import StoreOutdated
from face_engine.store.postgres.connections import lock_key

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "the first schema",
        """
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE TABLE users (
            id bigserial PRIMARY KEY,
            username text NOT NULL,
            folded text NOT NULL UNIQUE,
            created double precision NOT NULL,
            status text NOT NULL,
            last_login double precision,
            previous_login double precision,
            session_version integer NOT NULL DEFAULT 0
        );
        CREATE TABLE models (
            id serial PRIMARY KEY,
            name text NOT NULL,
            weights_hash text NOT NULL,
            dim integer NOT NULL CHECK (dim BETWEEN 1 AND 2000),
            faces bigint NOT NULL DEFAULT 0,
            UNIQUE (name, weights_hash, dim)
        );
        CREATE TABLE face_ids (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            last bigint NOT NULL
        );
        INSERT INTO face_ids VALUES (true, 0);
        CREATE TABLE faces (
            id bigint PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
            model_id integer NOT NULL REFERENCES models,
            created double precision NOT NULL,
            score double precision NOT NULL,
            embedding vector NOT NULL
        );
        CREATE INDEX faces_by_user ON faces (user_id, id);
        CREATE INDEX faces_by_model ON faces (model_id, id);
        CREATE TABLE challenges (
            id text PRIMARY KEY,
            record bytea NOT NULL,
            expires_at double precision NOT NULL
        );
        CREATE INDEX challenges_expiry ON challenges (expires_at);
        CREATE TABLE pending_logins (
            id text PRIMARY KEY,
            record bytea NOT NULL,
            expires_at double precision NOT NULL
        );
        CREATE INDEX pending_logins_expiry ON pending_logins (expires_at);
        CREATE TABLE audit (
            id bigserial PRIMARY KEY,
            at double precision NOT NULL,
            entry jsonb NOT NULL
        );
        CREATE TABLE jobs (
            name text PRIMARY KEY,
            value jsonb NOT NULL
        );
        CREATE TABLE replays (
            id bigserial PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
            at double precision NOT NULL,
            signature bytea NOT NULL
        );
        CREATE INDEX replays_by_user ON replays (user_id, at, id);
        CREATE TABLE oidc_records (
            kind text NOT NULL,
            name text NOT NULL,
            record jsonb NOT NULL,
            expires_at double precision,
            PRIMARY KEY (kind, name)
        );
        CREATE INDEX oidc_records_expiry ON oidc_records (kind, expires_at)
            WHERE expires_at IS NOT NULL;
        """,
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: psycopg.Connection, where: str) -> int:
    """Bring the database of ``conn`` (autocommit) to SCHEMA_VERSION; the version it had.

    :raise StoreOutdated: the database was migrated by a newer release."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("migrate"),))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        found = int(row[0]) if row else 0
        if found > SCHEMA_VERSION:
            raise StoreOutdated(
                f"the PostgreSQL database {where} has store schema {found}, this version knows "
                f"schema {SCHEMA_VERSION} at most: run the release that migrated it (a newer "
                "one), or point [store] postgres_dsn at another database"
            )
        for version, (name, sql) in enumerate(MIGRATIONS, start=1):
            if version > found:
                conn.execute(sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
    return found
