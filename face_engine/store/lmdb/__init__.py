"""The store on LMDB, the embedded default: one folder on one host (``database.py`` lists its
tables), one module per concern implementing ``face_engine.store.interfaces``.

Only ``face_engine.store.factory`` (and LMDB's own tests and benches) import this package;
``app/ratelimits.py`` shares ``environment.py``, the open-and-retry loop.
"""

from __future__ import annotations

from pathlib import Path

from face_engine.config import StoreConfig
from face_engine.store.interfaces import Store
from face_engine.store.lmdb.audit import LmdbAudit
from face_engine.store.lmdb.database import LmdbDatabase
from face_engine.store.lmdb.expiring import LmdbExpiring
from face_engine.store.lmdb.faces import LmdbFaces
from face_engine.store.lmdb.jobs import LmdbJobs
from face_engine.store.lmdb.oidc import oidc_tables
from face_engine.store.lmdb.replays import LmdbReplays
from face_engine.store.lmdb.users import LmdbUsers


def open_lmdb_store(path: Path, config: StoreConfig) -> Store:
    """The store in the LMDB folder ``path`` (created when missing; the environment opens on
    first use in each process). :raise StoreOutdated (on first use): another schema."""
    return store_on(LmdbDatabase(path, config), config)


def store_on(database: LmdbDatabase, config: StoreConfig) -> Store:
    """The tables of ``database`` (for LMDB's own tests and benches, which also write to it
    directly)."""
    users = LmdbUsers(database)
    return Store(
        where=str(database.path),
        backend="lmdb",
        users=users,
        sessions=users,
        faces=LmdbFaces(database),
        challenges=LmdbExpiring(database, "challenges"),
        pending_logins=LmdbExpiring(database, "pending_logins"),
        audit=LmdbAudit(database, config.audit_max_entries, config.audit_days * 86400.0),
        jobs=LmdbJobs(database),
        replays=LmdbReplays(database),
        oidc=oidc_tables(database),
        close=database.close,
    )
