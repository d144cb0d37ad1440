"""Replay memory: the signatures of each user's recent passed head turns (registration and
successful logins), in the store's ``replays`` table, to refuse the same frames sent again.

Keys are the user id then the time in microseconds (8 + 8 bytes big-endian), so one user's
entries are together, oldest first. Values are opaque bytes (``liveness.replay``'s signature).
Each ``remember`` keeps at most ``keep`` entries per user, none older than ``keep_seconds``.
"""

from __future__ import annotations

import time

import lmdb

from face_engine.store.lmdb_store import FaceStore
from face_engine.store.records import key


class ReplayRecords:
    def __init__(self, store: FaceStore, keep: int, keep_seconds: float) -> None:
        self.store = store
        self.keep = keep
        self.keep_seconds = keep_seconds

    def recent(self, user_id: int, now: float | None = None) -> list[bytes]:
        """``user_id``'s kept signatures within the retention age, oldest first."""
        oldest = _micros((now or time.time()) - self.keep_seconds)
        prefix = key(user_id)

        def collect(txn: lmdb.Transaction) -> list[bytes]:
            found: list[bytes] = []
            with txn.cursor(db=self.store.db("replays")) as cursor:
                if not cursor.set_range(prefix):
                    return found
                for raw_key, value in cursor:
                    raw_key = bytes(raw_key)
                    if not raw_key.startswith(prefix):
                        break
                    if int.from_bytes(raw_key[8:], "big") >= oldest:
                        found.append(bytes(value))
            return found

        self.store.db("replays")
        return self.store.read(collect)

    def remember(self, user_id: int, signature: bytes, now: float | None = None) -> None:
        """Keep ``signature`` for ``user_id``; drop that user's entries past the limits."""
        when = now or time.time()
        prefix = key(user_id)

        def put(txn: lmdb.Transaction) -> None:
            db = self.store.db("replays")
            txn.put(prefix + _micros(when).to_bytes(8, "big"), signature, db=db)
            keys: list[bytes] = []
            with txn.cursor(db=db) as cursor:
                if cursor.set_range(prefix):
                    for raw_key in cursor.iternext(keys=True, values=False):
                        raw_key = bytes(raw_key)
                        if not raw_key.startswith(prefix):
                            break
                        keys.append(raw_key)
            oldest = _micros(when - self.keep_seconds)
            stale = [k for k in keys if int.from_bytes(k[8:], "big") < oldest]
            fresh = [k for k in keys if k not in stale]
            stale += fresh[: max(0, len(fresh) - self.keep)]
            for stale_key in stale:
                txn.delete(stale_key, db=db)

        self.store.db("replays")
        self.store.write(put)


def _micros(seconds: float) -> int:
    return max(0, int(seconds * 1_000_000))
