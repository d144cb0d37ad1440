"""Background jobs' records and counters in LMDB: values in ``meta`` under their names (the
index rebuild's ``rebuild_job/<model tag>``, ``index_version``); ``JobTable``."""

from __future__ import annotations

import json
from typing import Any

from face_engine.store.lmdb.database import LmdbDatabase


class LmdbJobs:
    """JSON values and integer counters in the store's ``meta`` table."""

    def __init__(self, database: LmdbDatabase) -> None:
        self.database = database

    def get(self, name: str) -> Any:
        """The JSON value under ``name`` (None when absent)."""
        raw = self.database.read(lambda txn: txn.get(name.encode(), db=self.database.db("meta")))
        return None if raw is None else json.loads(bytes(raw))

    def put(self, name: str, value: Any) -> None:
        data = json.dumps(value).encode()
        self.database.write(lambda txn: txn.put(name.encode(), data, db=self.database.db("meta")))

    def get_int(self, name: str) -> int:
        """The counter ``name`` (0 when absent)."""
        return self.database.read(lambda txn: self.database.counter(txn, name.encode()))

    def put_int(self, name: str, value: int) -> None:
        data = str(value).encode()
        self.database.write(lambda txn: txn.put(name.encode(), data, db=self.database.db("meta")))
