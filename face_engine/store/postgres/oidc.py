"""The OpenID provider's records in PostgreSQL: one table, ``(kind, name) -> record``, kinds
as the LMDB prefixes (client, code, token, consent, key). Codes and tokens also keep their
``expires_at`` in a column, so the expired ones are dropped by an index range.

A code is taken with its row locked (``FOR UPDATE``), so of two hosts redeeming one code at
once exactly one sees it unused. Keys are added and rotated under a transaction-level
advisory lock, so two hosts making the first key at once end up using the same one.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from face_engine.store.interfaces import OidcTables, Record
from face_engine.store.postgres.connections import Pool


class PgRecords:
    """JSON records of one ``kind``."""

    kind = ""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def get(self, name: str) -> Record | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT record FROM oidc_records WHERE kind = %s AND name = %s", (self.kind, name)
            ).fetchone()
        return None if row is None else dict(row[0])

    def put(self, name: str, record: Record) -> None:
        with self.pool.connection() as conn:
            self._put(conn, name, record)

    def _put(self, conn: Any, name: str, record: Record) -> None:
        expires = record.get("expires_at") if self.kind in ("code", "token") else None
        conn.execute(
            "INSERT INTO oidc_records (kind, name, record, expires_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (kind, name) DO UPDATE SET record = excluded.record, "
            "expires_at = excluded.expires_at",
            (self.kind, name, Jsonb(record), None if expires is None else float(expires)),
        )

    def delete(self, name: str) -> bool:
        with self.pool.connection() as conn:
            done = conn.execute(
                "DELETE FROM oidc_records WHERE kind = %s AND name = %s", (self.kind, name)
            )
            return done.rowcount > 0

    def all(self) -> list[Record]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                'SELECT record FROM oidc_records WHERE kind = %s ORDER BY name COLLATE "C"',
                (self.kind,),
            ).fetchall()
        return [dict(r[0]) for r in rows]

    def _add_pruning(self, name: str, record: Record, now: float) -> None:
        with self.pool.transaction() as conn:
            conn.execute(
                "DELETE FROM oidc_records WHERE kind = %s AND expires_at < %s", (self.kind, now)
            )
            self._put(conn, name, record)


class PgClients(PgRecords):
    kind = "client"

    def create(self, client_id: str, record: Record) -> bool:
        with self.pool.connection() as conn:
            done = conn.execute(
                "INSERT INTO oidc_records (kind, name, record) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (self.kind, client_id, Jsonb(record)),
            )
            return done.rowcount > 0


class PgCodes(PgRecords):
    kind = "code"

    def add(self, code_hash: str, record: Record, now: float) -> None:
        self._add_pruning(code_hash, record, now)

    def take(self, code_hash: str) -> tuple[Record | None, bool]:
        with self.pool.transaction() as conn:
            row = conn.execute(
                "SELECT record FROM oidc_records WHERE kind = %s AND name = %s FOR UPDATE",
                (self.kind, code_hash),
            ).fetchone()
            if row is None:
                return None, False
            record: Record = dict(row[0])
            if record.get("used"):
                return record, True
            self._put(conn, code_hash, {**record, "used": True})
            return record, False

    def attach_token(self, code_hash: str, token_hash: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE oidc_records SET record = record || jsonb_build_object('token', %s::text) "
                "WHERE kind = %s AND name = %s",
                (token_hash, self.kind, code_hash),
            )


class PgTokens(PgRecords):
    kind = "token"

    def add(self, token_hash: str, record: Record, now: float) -> None:
        self._add_pruning(token_hash, record, now)


class PgConsents(PgRecords):
    kind = "consent"


class PgKeys(PgRecords):
    kind = "key"

    def _locked_keys(self, conn: Any) -> list[tuple[str, Record]]:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.pool.lock("oidc-keys"),))
        rows = conn.execute(
            'SELECT name, record FROM oidc_records WHERE kind = %s ORDER BY name COLLATE "C"',
            (self.kind,),
        ).fetchall()
        return [(str(r[0]), dict(r[1])) for r in rows]

    def add_first(self, kid: str, record: Record) -> Record:
        with self.pool.transaction() as conn:
            current = [k for _, k in self._locked_keys(conn) if k.get("retired_at") is None]
            if current:
                return max(current, key=lambda k: k["created"])
            self._put(conn, kid, record)
            return record

    def rotate(self, kid: str, record: Record, now: float, drop_before: float) -> None:
        with self.pool.transaction() as conn:
            for name, old in self._locked_keys(conn):
                retired = old.get("retired_at")
                if retired is None:
                    self._put(conn, name, {**old, "retired_at": now})
                elif retired < drop_before:
                    conn.execute(
                        "DELETE FROM oidc_records WHERE kind = %s AND name = %s", (self.kind, name)
                    )
            self._put(conn, kid, record)


def oidc_tables(pool: Pool) -> OidcTables:
    return OidcTables(
        PgClients(pool), PgCodes(pool), PgTokens(pool), PgConsents(pool), PgKeys(pool)
    )
