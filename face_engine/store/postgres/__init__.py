"""The store in PostgreSQL (``[store] backend = postgres``): every table of ``store.interfaces``
in one database, shared by any number of hosts; pgvector for the faces.

``open_postgres_store`` migrates the database (migrations.py) and checks its version once,
then closes that connection: each process (every gunicorn worker) opens its own pool on first
use. The 1:N search over these faces is ``face_engine.index.pgvector.search_for``.
"""

from __future__ import annotations

from face_engine.config import StoreConfig
from face_engine.store.interfaces import Store
from face_engine.store.postgres.connections import Pool, public_dsn
from face_engine.store.postgres.faces import PgFaceStore
from face_engine.store.postgres.migrations import SCHEMA_VERSION, migrate
from face_engine.store.postgres.oidc import oidc_tables
from face_engine.store.postgres.records import PgAudit, PgExpiring, PgJobs, PgReplays

__all__ = ["SCHEMA_VERSION", "PgFaceStore", "open_postgres_store"]


def open_postgres_store(config: StoreConfig) -> Store:
    """The store in the database at ``[store] postgres_dsn``, migrated to this version.

    :raise StoreOutdated: the database was migrated by a newer release.
    :raise psycopg.OperationalError: the database cannot be reached."""
    dsn, size = config.postgres_dsn, config.postgres_pool_size
    where = public_dsn(dsn)
    pool = Pool(dsn, size)
    with pool.connect() as conn:
        migrate(conn, where)
        row = conn.execute("SELECT current_schema()").fetchone()
        pool.schema = str(row[0]) if row and row[0] else "public"
    faces = PgFaceStore(pool)
    return Store(
        where=where,
        backend="postgres",
        users=faces,
        sessions=faces,
        faces=faces,
        challenges=PgExpiring(pool, "challenges"),
        pending_logins=PgExpiring(pool, "pending_logins"),
        audit=PgAudit(pool, config.audit_max_entries, config.audit_days * 86400.0),
        jobs=PgJobs(pool),
        replays=PgReplays(pool),
        oidc=oidc_tables(pool),
        close=pool.close,
    )
