"""The audit log in LMDB (``audit``): login and registration attempts; ``AuditTable``.

Entries are JSON (time, client, action, outcome, user, distance: never photos or vectors)
under increasing ids. Each append drops the oldest entries beyond the retention limits, a
bounded number at a time, in the same transaction.
"""

from __future__ import annotations

import json
from typing import Any

import lmdb

from face_engine.store.lmdb.database import LmdbDatabase
from face_engine.store.lmdb.layout import key, unkey

PRUNE_BATCH = 100


class LmdbAudit:
    """Appends and pages through the audit table; ``keep`` entries, ``keep_seconds`` old."""

    def __init__(self, database: LmdbDatabase, keep: int, keep_seconds: float) -> None:
        self.database = database
        self.keep = keep
        self.keep_seconds = keep_seconds

    def append(self, entry: dict[str, Any]) -> int:
        """Add ``entry`` (it has a ``time``); the new entry's id."""

        def append(txn: lmdb.Transaction) -> int:
            db = self.database.db("audit")
            entry_id = self.database.bump(txn, b"next_audit_id")
            txn.put(key(entry_id), json.dumps(entry).encode(), db=db)
            count = txn.stat(db)["entries"]
            oldest_kept = entry["time"] - self.keep_seconds
            with txn.cursor(db=db) as cursor:
                dropped = 0
                while cursor.first() and dropped < PRUNE_BATCH:
                    old = json.loads(bytes(cursor.value()))
                    if count - dropped <= self.keep and old["time"] >= oldest_kept:
                        break
                    cursor.delete()
                    dropped += 1
            return entry_id

        return self.database.write(append)

    def entries(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` entries, newest first, with ids below ``before`` when given."""

        def collect(txn: lmdb.Transaction) -> list[dict[str, Any]]:
            entries: list[dict[str, Any]] = []
            with txn.cursor(db=self.database.db("audit")) as cursor:
                found = cursor.set_range(key(before)) if before is not None else cursor.last()
                if before is not None:
                    found = cursor.prev() if found else cursor.last()
                while found and len(entries) < limit:
                    entries.append({"id": unkey(cursor.key()), **json.loads(bytes(cursor.value()))})
                    found = cursor.prev()
            return entries

        return self.database.read(collect)
