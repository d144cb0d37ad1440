"""Rebuilding a model's HNSW index in place: ``REINDEX INDEX CONCURRENTLY``, one at a time
across hosts.

The rebuild holds a session-level advisory lock on a connection of its own (outside the pool),
so the lock goes with the connection if its process dies. ``REINDEX ... CONCURRENTLY`` builds a
new index beside the old one and swaps them; inserts, deletes and searches go on meanwhile
(searches use the old index until the swap).
"""

from __future__ import annotations

from psycopg import sql

from face_engine.store.postgres.connections import Pool
from face_engine.store.postgres.faces import index_name

REINDEX_MEMORY = "1GB"
"""maintenance_work_mem for a rebuild: a 1M-face, 128-D index is 832 MB (docs/postgres.md);
a build whose graph does not fit in it is much slower."""


class HeldLock:
    """A session advisory lock held on a connection of its own; ``close`` lets it go."""

    def __init__(self, pool: Pool, key: int, wait: bool) -> None:
        self.conn = pool.connect()
        self.key = key
        if wait:
            self.conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            self.held = True
        else:
            row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            self.held = bool(row and row[0])
        if not self.held:
            self.conn.close()

    def reindex(self, ref: int) -> None:
        """Rebuild model ``ref``'s HNSW index (the lock must be held)."""
        assert self.held
        self.conn.execute(
            sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(REINDEX_MEMORY))
        )
        # A REINDEX CONCURRENTLY killed half-way leaves its new index behind, invalid (it is
        # still updated by every write): dropped before the next.
        leftovers = self.conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE NOT i.indisvalid AND c.relnamespace = current_schema()::regnamespace "
            "AND c.relname LIKE %s",
            (index_name(ref) + "\\_ccnew%",),
        ).fetchall()
        for (name,) in leftovers:
            self.conn.execute(
                sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name))
            )
        self.conn.execute(
            sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(sql.Identifier(index_name(ref)))
        )

    def close(self) -> None:
        """Let the lock go (at once, for whoever looks next) and close the connection."""
        if self.conn.closed:
            return
        try:
            if self.held and not self.conn.broken:
                self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        finally:
            self.held = False
            self.conn.close()  # a session ending lets its locks go too, a moment later


def try_lock(pool: Pool, name: str) -> HeldLock | None:
    """The lock ``name``, or None when another session holds it."""
    held = HeldLock(pool, pool.lock(name), wait=False)
    return held if held.held else None


def lock(pool: Pool, name: str) -> HeldLock:
    """The lock ``name``, once whoever holds it lets it go."""
    return HeldLock(pool, pool.lock(name), wait=True)


def is_locked(pool: Pool, name: str) -> bool:
    """Whether some session holds the lock ``name`` now (a non-blocking probe)."""
    key = pool.lock(name)
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if row and row[0]:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            return False
    return True
