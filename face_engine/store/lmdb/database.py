"""The store's LMDB environment: its named databases, its schema version and its counters.

Sub-databases (keys are 8-byte big-endian ids, so cursors walk them in id order):
- ``users``: user id -> JSON {username, created, status, last_login, ...} (``users.py``)
- ``usernames``: casefolded username (UTF-8) -> user id (unique, case-insensitive)
- ``faces``: face id -> user id, created, detection score, model ref (``<qddI``) + float32
  vector; ``user_faces``: user id -> face id (dupsort: one entry per face) (``faces.py``)
- ``models``: model ref -> JSON {name, weights_hash, dim}: which network made a face's vector
- ``audit``: entry id -> JSON (``audit.py``)
- ``challenges``, ``pending_logins``: id -> JSON record; ``challenges_expiry``,
  ``pending_logins_expiry``: their expiry indexes (``expiring.py``)
- ``replays``: user id + time -> a passed head turn's replay signature (``replays.py``);
  created on first open, so data folders from before it open as they are
- ``oidc``: the OpenID provider's records (``oidc.py``)
- ``meta``: schema version, id counters (``next_face_id`` is the newest face id given, so
  readers notice new faces cheaply), ``index_version`` and the jobs' JSON (``jobs.py``).

Every write is one transaction: LMDB runs one write transaction at a time across processes,
which makes a check done inside one atomic with the write.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import lmdb

from face_engine.config import StoreConfig
from face_engine.errors import StoreOutdated
from face_engine.store.lmdb.environment import LmdbEnvironment

SCHEMA_VERSION = 2
T = TypeVar("T")
NAMES = (
    "users",
    "usernames",
    "faces",
    "models",
    "meta",
    "challenges",
    "pending_logins",
    "challenges_expiry",
    "pending_logins_expiry",
    "audit",
    "oidc",
    "replays",
)
DUPSORT = ("user_faces",)


class LmdbDatabase:
    """The store's environment at ``path`` (a folder): named databases by name (``db``),
    transactions (``read``, ``write``) and the counters in ``meta``."""

    def __init__(self, path: Path, config: StoreConfig) -> None:
        self.path = Path(path)
        # A function, not a bound method: no reference cycle, so a store dropped without
        # close() lets go of its environment at once (LMDB allows one per folder per process).
        self.environment = LmdbEnvironment(
            self.path,
            config.map_size_mb * 1024 * 1024,
            functools.partial(open_tables, self.path),
            max_dbs=16,
            max_readers=config.max_readers,
            metasync=True,
            sync=True,
        )

    @property
    def env(self) -> lmdb.Environment:
        return self.environment.env

    def db(self, name: str) -> Any:
        """The named database of this process's environment."""
        return self.environment.prepared[name]

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        return self.environment.write(fn)

    def read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        return self.environment.read(fn)

    def close(self) -> None:
        self.environment.close()

    def bump(self, txn: lmdb.Transaction, name: bytes, by: int = 1) -> int:
        """Add ``by`` to the counter ``name`` in ``meta`` (inside ``txn``); its new value."""
        value = self.counter(txn, name) + by
        txn.put(name, str(value).encode(), db=self.db("meta"))
        return value

    def counter(self, txn: lmdb.Transaction, name: bytes) -> int:
        """The counter ``name`` in ``meta`` (0 when absent)."""
        return int(bytes(txn.get(name, b"0", db=self.db("meta"))))


def open_tables(path: Path, env: lmdb.Environment) -> dict[str, Any]:
    """Open the named databases; write the schema version into a new store, refuse an
    older one's."""
    dbs = {name: env.open_db(name.encode()) for name in NAMES}
    dbs.update({name: env.open_db(name.encode(), dupsort=True) for name in DUPSORT})
    with env.begin(write=True, db=dbs["meta"]) as txn:
        found = txn.get(b"schema_version")
        if found is None:
            txn.put(b"schema_version", str(SCHEMA_VERSION).encode())
        elif int(found) != SCHEMA_VERSION:
            raise StoreOutdated(
                f"the data in {path} has store schema {int(found)}, this "
                f"version reads schema {SCHEMA_VERSION} (faces now record the model "
                "that made them). Photos are not kept, so the faces cannot be "
                "converted: move the data directory away and have people register "
                "again, or run the release that wrote it"
            )
    return dbs
