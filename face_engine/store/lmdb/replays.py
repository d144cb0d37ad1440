"""The replay memory in LMDB (``replays``): signatures of each user's recent passed head turns
(registration and successful logins); ``ReplayTable``. How many and how long to keep them is
the caller's (``head_turn.ReplayMemory``).

Keys are the user id then the time in microseconds (8 + 8 bytes big-endian), so one user's
entries are together, oldest first. Values are opaque bytes (``liveness.replay``'s signature).
Each ``remember`` keeps at most ``keep`` entries per user, none older than ``since``.
"""

from __future__ import annotations

import lmdb

from face_engine.store.lmdb.database import LmdbDatabase
from face_engine.store.lmdb.layout import key


class LmdbReplays:
    """``ReplayTable`` on an LMDB store."""

    def __init__(self, database: LmdbDatabase) -> None:
        self.database = database

    def recent(self, user_id: int, since: float) -> list[bytes]:
        """``user_id``'s signatures kept at or after ``since`` (epoch seconds), oldest first."""
        oldest = _micros(since)
        prefix = key(user_id)

        def collect(txn: lmdb.Transaction) -> list[bytes]:
            found: list[bytes] = []
            with txn.cursor(db=self.database.db("replays")) as cursor:
                if not cursor.set_range(prefix):
                    return found
                for raw_key, value in cursor:
                    raw_key = bytes(raw_key)
                    if not raw_key.startswith(prefix):
                        break
                    if int.from_bytes(raw_key[8:], "big") >= oldest:
                        found.append(bytes(value))
            return found

        return self.database.read(collect)

    def remember(
        self, user_id: int, signature: bytes, when: float, keep: int, since: float
    ) -> None:
        """Keep ``signature`` for ``user_id``; drop that user's entries before ``since`` and
        all but the newest ``keep``."""
        prefix = key(user_id)

        def put(txn: lmdb.Transaction) -> None:
            db = self.database.db("replays")
            txn.put(prefix + _micros(when).to_bytes(8, "big"), signature, db=db)
            keys: list[bytes] = []
            with txn.cursor(db=db) as cursor:
                if cursor.set_range(prefix):
                    for raw_key in cursor.iternext(keys=True, values=False):
                        raw_key = bytes(raw_key)
                        if not raw_key.startswith(prefix):
                            break
                        keys.append(raw_key)
            oldest = _micros(since)
            stale = [k for k in keys if int.from_bytes(k[8:], "big") < oldest]
            fresh = [k for k in keys if k not in stale]
            stale += fresh[: max(0, len(fresh) - keep)]
            for stale_key in stale:
                txn.delete(stale_key, db=db)

        self.database.write(put)


def _micros(seconds: float) -> int:
    return max(0, int(seconds * 1_000_000))
