"""The store tests run on: one helper, so that a test about behaviour (not LMDB's bytes) runs
on whichever backend is under test (``FACE_TEST_STORE``, tests/postgres.py)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from face_engine.config import StoreConfig
from face_engine.store.interfaces import Store
from face_engine.store.lmdb import open_lmdb_store
from tests.postgres import SUITE_SERVER, fresh_schema, on_postgres, schema_dsn

_schemas: set[str] = set()


def open_test_store(path: Path, config: StoreConfig | None = None) -> Store:
    """A store of its own for ``path`` (a fresh folder): LMDB there, or under
    FACE_TEST_STORE=postgres a PostgreSQL schema of that folder's own, empty when first
    opened (opened again for the same folder, the same data)."""
    config = config or StoreConfig()
    if not on_postgres():
        return open_lmdb_store(Path(path), config)
    from face_engine.store.postgres import open_postgres_store

    server = SUITE_SERVER[0]
    schema = "s_" + hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16]
    if schema not in _schemas:
        fresh_schema(server, schema)
        _schemas.add(schema)
    dsn = schema_dsn(server, schema)
    return open_postgres_store(dataclasses.replace(config, backend="postgres", postgres_dsn=dsn))
