"""The store tests run on: one helper, so that a test about behaviour (not LMDB's bytes) runs
on whichever backend is under test."""

from __future__ import annotations

from pathlib import Path

from face_engine.config import StoreConfig
from face_engine.store.interfaces import Store
from face_engine.store.lmdb import open_lmdb_store


def open_test_store(path: Path, config: StoreConfig | None = None) -> Store:
    """A store of its own in ``path`` (a fresh folder): LMDB for now."""
    return open_lmdb_store(Path(path), config or StoreConfig())
