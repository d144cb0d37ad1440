"""Connections to PostgreSQL: a small pool per process, opened lazily, never across a fork.

gunicorn forks its workers after the app may have been created: a connection's socket must
not be shared by two processes (a child closing it would end the parent's session too). So
the pool remembers the process that opened it; a process that finds it was made in another
one starts an empty pool of its own and leaves the inherited connections alone (kept
referenced, never closed, so their sockets stay the parent's).

Connections are in autocommit mode; ``transaction`` wraps a block in BEGIN ... COMMIT, and
the rebuild's ``REINDEX CONCURRENTLY`` (which cannot run inside a transaction) uses one bare.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import conninfo
from psycopg.pq import TransactionStatus

from face_engine.errors import StoreUnavailable

IDLE_CHECK_SECONDS = 30.0
"""An idle connection older than this is checked (one empty query) before it is handed out."""
_INHERITED: list[psycopg.Connection] = []
"""Connections a forked child found in its parent's pool: kept alive, never closed by it."""


def public_dsn(dsn: str) -> str:
    """``dsn`` without its password, for messages."""
    params = conninfo.conninfo_to_dict(dsn)
    params.pop("password", None)
    return conninfo.make_conninfo("", **params) or "(libpq defaults)"


def lock_key(name: str) -> int:
    """A stable advisory-lock key (signed 64-bit) for ``name``."""
    digest = hashlib.blake2b(b"face-login:" + name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _close_idle(idle: list[tuple[psycopg.Connection, float]], pid: int) -> None:
    """Close ``idle``'s connections if this is the process that opened them."""
    if pid == os.getpid():
        for conn, _ in idle:
            conn.close()
        idle.clear()


class _Process:
    """One process's share of the pool. Dropped without ``Pool.close`` (a store nobody
    closed), it closes its idle connections itself, in the process that opened them."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.idle: list[tuple[psycopg.Connection, float]] = []
        self.open = 0
        self.cond = threading.Condition()
        weakref.finalize(self, _close_idle, self.idle, self.pid)


class Pool:
    """At most ``size`` connections to ``dsn`` in each process; threads wait for a free one."""

    def __init__(self, dsn: str, size: int, wait_seconds: float = 30.0) -> None:
        self.dsn = dsn
        self.size = max(1, size)
        self.wait_seconds = wait_seconds
        self.schema = "public"  # where the tables are (open_postgres_store reads it)
        self._process = _Process()

    def lock(self, name: str) -> int:
        """The advisory-lock key of ``name`` in this store's schema."""
        return lock_key(f"{self.schema}:{name}")

    def _current(self) -> _Process:
        process = self._process
        if process.pid != os.getpid():
            _INHERITED.extend(conn for conn, _ in process.idle)
            process = self._process = _Process()
        return process

    def connect(self) -> psycopg.Connection:
        """A new connection of its own (autocommit), outside the pool.

        :raise StoreUnavailable: the server cannot be reached or refuses the connection."""
        try:
            return psycopg.connect(self.dsn, autocommit=True)
        except psycopg.OperationalError as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreUnavailable(
                f"PostgreSQL at {public_dsn(self.dsn)} cannot be reached ({reason}); check "
                "[store] postgres_dsn (FACE_LOGIN_STORE_POSTGRES_DSN) and that the server runs"
            ) from e

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection of this process's pool, returned to it afterwards (closed if broken
        or left inside a transaction)."""
        process = self._current()
        conn = self._take(process)
        try:
            yield conn
        finally:
            self._give(process, conn)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A pooled connection inside one transaction: committed at the end, rolled back when
        the block raises."""
        with self.connection() as conn, conn.transaction():
            yield conn

    def _take(self, process: _Process) -> psycopg.Connection:
        deadline = time.monotonic() + self.wait_seconds
        with process.cond:
            while not process.idle and process.open >= self.size:
                if not process.cond.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(
                        f"no free PostgreSQL connection after {self.wait_seconds:.0f} s "
                        f"([store] postgres_pool_size = {self.size})"
                    )
            if process.idle:
                conn, since = process.idle.pop()
            else:
                conn, since = None, 0.0
            process.open += 1
        try:
            if conn is not None and time.monotonic() - since > IDLE_CHECK_SECONDS:
                try:
                    conn.execute("")
                except psycopg.Error:
                    conn.close()
                    conn = None
            return conn if conn is not None else self.connect()
        except BaseException:
            with process.cond:
                process.open -= 1
                process.cond.notify()
            raise

    def _give(self, process: _Process, conn: psycopg.Connection) -> None:
        usable = (
            not conn.closed
            and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE
            and process is self._process
        )
        if not usable and process.pid == os.getpid():
            conn.close()
        with process.cond:
            process.open -= 1
            if usable:
                process.idle.append((conn, time.monotonic()))
            process.cond.notify()

    def close(self) -> None:
        """Close this process's idle connections (a later use opens new ones)."""
        process = self._process
        if process.pid != os.getpid():
            return
        with process.cond:
            idle = list(process.idle)
            process.idle.clear()
        for conn, _ in idle:
            conn.close()
