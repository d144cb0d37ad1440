"""Short-lived records (head-turn challenges, pending logins) in one of the store's tables:
kept until taken (once) or stale."""

from __future__ import annotations

from collections.abc import Callable

import lmdb

from face_engine.store.lmdb_store import FaceStore


class ChallengeRecords:
    """Puts and takes challenge records; taking deletes in the same write transaction, so a
    challenge is taken once across processes."""

    def __init__(self, store: FaceStore, table: str = "challenges") -> None:
        self.store = store
        self.table = table

    def put(self, challenge_id: str, record: bytes, purge: Callable[[bytes], bool]) -> None:
        """Keep ``record`` under ``challenge_id``, first dropping the records ``purge`` says
        are stale (expired challenges nobody came back for)."""

        def put(txn: lmdb.Transaction) -> None:
            db = self.store.db(self.table)
            with txn.cursor(db=db) as cursor:
                stale = [bytes(k) for k, v in cursor if purge(bytes(v))]
            for stale_key in stale:
                txn.delete(stale_key, db=db)
            txn.put(challenge_id.encode(), record, db=db)

        self.store.db(self.table)
        self.store.write(put)

    def take(self, challenge_id: str) -> bytes | None:
        """The record of ``challenge_id``, deleted in the same transaction; None if none."""

        def take(txn: lmdb.Transaction) -> bytes | None:
            db = self.store.db(self.table)
            raw = txn.get(challenge_id.encode(), db=db)
            if raw is None:
                return None
            txn.delete(challenge_id.encode(), db=db)
            return bytes(raw)

        self.store.db(self.table)
        return self.store.write(take)
