"""The store tests run on: one helper, so that a test about behaviour (not LMDB's bytes) runs
on whichever backend is under test (``FACE_TEST_STORE``, tests/postgres.py)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from face_engine.config import StoreConfig
from face_engine.store.interfaces import Store
from face_engine.store.lmdb import open_lmdb_store
from tests.postgres import on_postgres


def open_test_store(path: Path, config: StoreConfig | None = None) -> Store:
    """The store at ``path`` (a data folder's ``lmdb``): LMDB there, or under
    FACE_TEST_STORE=postgres the suite's PostgreSQL schema, which every service the test
    starts uses too (emptied before each test)."""
    config = config or StoreConfig()
    if not on_postgres():
        return open_lmdb_store(Path(path), config)
    from face_engine.store.postgres import open_postgres_store

    # The suite's DSN is in the environment, so processes a test spawns find it too.
    dsn = os.environ["FACE_LOGIN_STORE_POSTGRES_DSN"]
    return open_postgres_store(dataclasses.replace(config, backend="postgres", postgres_dsn=dsn))
