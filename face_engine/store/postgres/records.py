"""Short-lived records (challenges, pending logins), the audit log, jobs and replay memory in
PostgreSQL (ExpiringTable, AuditTable, JobTable, ReplayTable).

- A record is taken once by ``DELETE ... RETURNING``: of two hosts taking one challenge at
  once, the second's DELETE waits for the first to commit and then finds no row.
- Stale records are purged by each put, the oldest first, at most ``PURGE_BATCH`` at a time
  (``FOR UPDATE SKIP LOCKED``: two hosts purging at once do not wait for each other).
- Audit retention: each append drops, from the oldest, entries more than ``keep`` ids behind
  the new one or older than ``keep_seconds`` (at most ``PRUNE_BATCH``). Ids come from a
  sequence, so the count is exact unless an append rolled back (then fewer are kept).
- Replays: one user's remembers are serialised on that user's row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from face_engine.store.interfaces import Purged, Record
from face_engine.store.postgres.connections import Pool

PURGE_BATCH = 64
PRUNE_BATCH = 100


class PgExpiring:
    """One table of records taken once (``challenges`` or ``pending_logins``)."""

    def __init__(self, pool: Pool, table: str, purge_batch: int = PURGE_BATCH) -> None:
        self.pool = pool
        self.table = sql.Identifier(table)
        self.purge_batch = purge_batch

    def put(self, record_id: str, record: bytes, expires_at: float, now: float) -> Purged:
        return self.put_many([(record_id, record, expires_at)], now)

    def put_many(self, records: Iterable[tuple[str, bytes, float]], now: float) -> Purged:
        rows = [(record_id, record, float(expires_at)) for record_id, record, expires_at in records]
        with self.pool.transaction() as conn:
            removed = conn.execute(
                sql.SQL(
                    "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expires_at < %s "
                    "ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED)"
                ).format(t=self.table),
                (now, self.purge_batch),
            ).rowcount
            with conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        "INSERT INTO {t} (id, record, expires_at) VALUES (%s, %s, %s) "
                        "ON CONFLICT (id) DO UPDATE SET record = excluded.record, "
                        "expires_at = excluded.expires_at"
                    ).format(t=self.table),
                    rows,
                )
        # The index walk stops at the first live entry unless the batch ran out first.
        return Purged(removed, removed if removed >= self.purge_batch else removed + 1)

    def take(self, record_id: str) -> bytes | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                sql.SQL("DELETE FROM {t} WHERE id = %s RETURNING record").format(t=self.table),
                (record_id,),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def counts(self) -> tuple[int, int]:
        """(records, expiry index entries): one B-tree entry per record here."""
        with self.pool.connection() as conn:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {t}").format(t=self.table)).fetchone()
        count = int(row[0]) if row else 0
        return count, count


class PgAudit:
    """The audit log; ``keep`` entries at most, none older than ``keep_seconds``."""

    def __init__(self, pool: Pool, keep: int, keep_seconds: float) -> None:
        self.pool = pool
        self.keep = keep
        self.keep_seconds = keep_seconds

    def append(self, entry: Record) -> int:
        at = float(entry["time"])
        with self.pool.transaction() as conn:
            row = conn.execute(
                "INSERT INTO audit (at, entry) VALUES (%s, %s) RETURNING id", (at, Jsonb(entry))
            ).fetchone()
            assert row is not None
            entry_id = int(row[0])
            oldest = conn.execute("SELECT id, at FROM audit ORDER BY id LIMIT 1").fetchone()
            if oldest is not None and self._stale(oldest, entry_id, at):
                rows = conn.execute(
                    "SELECT id, at FROM audit ORDER BY id LIMIT %s", (PRUNE_BATCH,)
                ).fetchall()
                doomed = []
                for old in rows:
                    if not self._stale(old, entry_id, at):
                        break
                    doomed.append(int(old[0]))
                conn.execute("DELETE FROM audit WHERE id = ANY(%s)", (doomed,))
        return entry_id

    def _stale(self, row: tuple[Any, ...], newest: int, now: float) -> bool:
        return int(row[0]) <= newest - self.keep or float(row[1]) < now - self.keep_seconds

    def entries(self, limit: int, before: int | None = None) -> list[Record]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, entry FROM audit WHERE id < %s ORDER BY id DESC LIMIT %s",
                (before if before is not None else 2**63 - 1, limit),
            ).fetchall()
        return [{"id": int(r[0]), **r[1]} for r in rows]


class PgJobs:
    """JSON values and counters by name, in one table."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def get(self, name: str) -> Any:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT value FROM jobs WHERE name = %s", (name,)).fetchone()
        return None if row is None else row[0]

    def put(self, name: str, value: Any) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO jobs (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, Jsonb(value)),
            )

    def get_int(self, name: str) -> int:
        value = self.get(name)
        return 0 if value is None else int(value)

    def put_int(self, name: str, value: int) -> None:
        self.put(name, int(value))


class PgReplays:
    """Each user's recent head-turn signatures."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def recent(self, user_id: int, since: float) -> list[bytes]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT signature FROM replays WHERE user_id = %s AND at >= %s ORDER BY at, id",
                (user_id, since),
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def remember(
        self, user_id: int, signature: bytes, when: float, keep: int, since: float
    ) -> None:
        """Keep ``signature`` (nothing for a deleted user); drop that user's entries before
        ``since`` and all but the newest ``keep``."""
        with self.pool.transaction() as conn:
            found = conn.execute("SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE", (user_id,))
            if found.fetchone() is None:
                return
            conn.execute(
                "INSERT INTO replays (user_id, at, signature) VALUES (%s, %s, %s)",
                (user_id, when, signature),
            )
            conn.execute(
                "DELETE FROM replays WHERE user_id = %s AND (at < %s OR id NOT IN ("
                " SELECT id FROM replays WHERE user_id = %s AND at >= %s"
                " ORDER BY at DESC, id DESC LIMIT %s))",
                (user_id, since, user_id, since, max(0, keep)),
            )
