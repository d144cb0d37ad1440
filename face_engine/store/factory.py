"""The configured store (``[store] backend``): the one place that picks an implementation of
``face_engine.store.interfaces``."""

from __future__ import annotations

from pathlib import Path

from face_engine.config import StoreConfig
from face_engine.store.interfaces import Store


def open_store(config: StoreConfig, data_dir: Path) -> Store:
    """LMDB in ``<data_dir>/lmdb``, or the PostgreSQL database of ``postgres_dsn`` (its
    client is imported only then, so LMDB needs no PostgreSQL library)."""
    if config.backend == "postgres":
        from face_engine.store.postgres import open_postgres_store

        return open_postgres_store(config)
    from face_engine.store.lmdb import open_lmdb_store

    return open_lmdb_store(data_dir / "lmdb", config)
