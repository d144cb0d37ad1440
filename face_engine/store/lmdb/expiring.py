"""Short-lived records (head-turn challenges, pending logins) in one of the LMDB store's
tables: kept until taken (once) or stale; ``ExpiringTable`` on LMDB.

Each table has an expiry index beside it (``<table>_expiry``): key = the record's expiry in
microseconds since the epoch, 8 bytes big-endian, then its id; value empty. LMDB keeps keys
sorted, so the stale records are the index's first entries: a put drops them by walking from
the start while the entries are expired, at most ``purge_batch`` of them, and stops at the
first live one. Issuing costs the same with 100,000 live records as with none (it used to
read every live record on each put).

A store written before the index existed is indexed once, by the first put that finds the
table unindexed (a flag in ``meta``). Index entries whose record is gone (taken by a process
of the older version) are dropped when they expire; a record without an entry is still taken.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable

import lmdb

from face_engine.store.interfaces import Purged
from face_engine.store.lmdb.database import LmdbDatabase

PURGE_BATCH = 64
"""Stale records dropped per put at most: more than one, so purging outpaces issuing."""


def json_expiry(raw: bytes) -> float:
    """The ``expires_at`` (epoch seconds) of a JSON record, as both tables write them."""
    return float(json.loads(raw)["expires_at"])


def expiry_key(expires_at: float, record_id: bytes = b"") -> bytes:
    """The index key: big-endian microseconds (sort as numbers), then the id."""
    return struct.pack(">Q", max(0, int(expires_at * 1_000_000))) + record_id


class LmdbExpiring:
    """Puts and takes the records of ``table``; taking deletes the record and its index entry
    in the same write transaction, so a record is taken once across processes."""

    def __init__(
        self,
        database: LmdbDatabase,
        table: str,
        expiry: Callable[[bytes], float] = json_expiry,
        purge_batch: int = PURGE_BATCH,
    ) -> None:
        """:param expiry: reads a stored record's expiry (epoch seconds); used by ``take``
        and to index a table written before the index existed."""
        self.database = database
        self.table = table
        self.index = f"{table}_expiry"
        self.expiry = expiry
        self.purge_batch = purge_batch
        self._indexed = False  # this process has seen the table's index flag set

    def put(self, record_id: str, record: bytes, expires_at: float, now: float) -> Purged:
        """Keep ``record`` under ``record_id`` until ``expires_at`` (epoch seconds, the same
        value ``expiry`` reads from ``record``), first dropping up to ``purge_batch`` records
        that expired before ``now``."""
        return self.put_many([(record_id, record, expires_at)], now)

    def put_many(self, records: Iterable[tuple[str, bytes, float]], now: float) -> Purged:
        """``put`` for many (id, record, expires_at) in one transaction (one purge)."""

        items = list(records)  # a full map retries the transaction: iterate again

        def put(txn: lmdb.Transaction) -> Purged:
            self._ensure_indexed(txn)
            purged = self._purge(txn, now)
            table, index = self.database.db(self.table), self.database.db(self.index)
            for record_id, record, expires_at in items:
                raw_id = record_id.encode()
                txn.put(raw_id, record, db=table)
                txn.put(expiry_key(expires_at, raw_id), b"", db=index)
            return purged

        purged = self.database.write(put)
        self._indexed = True  # only once the transaction that set the flag committed
        return purged

    def take(self, record_id: str) -> bytes | None:
        """The record of ``record_id``, deleted with its index entry in the same
        transaction; None if none."""

        def take(txn: lmdb.Transaction) -> bytes | None:
            raw_id = record_id.encode()
            table = self.database.db(self.table)
            raw = txn.get(raw_id, db=table)
            if raw is None:
                return None
            raw = bytes(raw)
            txn.delete(raw_id, db=table)
            try:
                txn.delete(expiry_key(self.expiry(raw), raw_id), db=self.database.db(self.index))
            except (ValueError, KeyError, TypeError):
                pass  # an unreadable record: its entry (if any) goes when it expires
            return raw

        return self.database.write(take)

    def counts(self) -> tuple[int, int]:
        """(records, index entries) in the table (for tests and benches)."""

        def counts(txn: lmdb.Transaction) -> tuple[int, int]:
            table, index = self.database.db(self.table), self.database.db(self.index)
            return txn.stat(table)["entries"], txn.stat(index)["entries"]

        return self.database.read(counts)

    def _purge(self, txn: lmdb.Transaction, now: float) -> Purged:
        """Drop the records whose index entries say they expired before ``now``: from the
        index's start, stopping at the first live entry or after ``purge_batch``."""
        table = self.database.db(self.table)
        limit = expiry_key(now)
        removed = looked_at = 0
        with txn.cursor(db=self.database.db(self.index)) as cursor:
            cursor.first()
            while removed < self.purge_batch:
                entry = bytes(cursor.key())  # empty past the last entry
                if not entry:
                    break
                looked_at += 1
                if entry[:8] >= limit:
                    break
                if entry[8:]:
                    txn.delete(entry[8:], db=table)  # False when already taken: fine
                cursor.delete()  # and moves to the next entry
                removed += 1
        return Purged(removed, looked_at)

    def _ensure_indexed(self, txn: lmdb.Transaction) -> None:
        """Index the table once if it was written before the index existed."""
        if self._indexed:
            return
        flag = f"expiry_indexed:{self.table}".encode()
        meta = self.database.db("meta")
        if txn.get(flag, db=meta) is None:
            index = self.database.db(self.index)
            with txn.cursor(db=self.database.db(self.table)) as cursor:
                for raw_id, raw in cursor:
                    try:
                        expires_at = self.expiry(bytes(raw))
                    except (ValueError, KeyError, TypeError):
                        expires_at = 0.0  # unreadable: stale at once
                    txn.put(expiry_key(expires_at, bytes(raw_id)), b"", db=index)
            txn.put(flag, b"1", db=meta)
