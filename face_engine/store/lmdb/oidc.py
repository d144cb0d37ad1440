"""The OpenID provider's records in LMDB (``oidc``), one key prefix per kind; ``OidcTables``.

- ``client:<client id>``: a registered application (JSON; its secret only as a hash)
- ``code:<sha256 of the code>``: an authorization code, taken once, kept marked as used
  until it expires (a second use is then told apart from an unknown code)
- ``token:<sha256 of the access token>``: what an access token may read, until it expires
- ``consent:<user id>:<client id>``: the scopes a person agreed to give an application
- ``key:<kid>``: an ID-token signing key (JSON with its private PEM)

Values are JSON. Codes and tokens are kept only under a hash: a copy of the store lets nobody
redeem them. Expired codes and tokens are dropped when new ones are written.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import lmdb

from face_engine.store.interfaces import OidcTables, Record
from face_engine.store.lmdb.database import LmdbDatabase

TABLE = "oidc"


class _PrefixedTable:
    """JSON records under ``prefix`` in the ``oidc`` table."""

    prefix = b""

    def __init__(self, database: LmdbDatabase) -> None:
        self.database = database

    def _key(self, name: str) -> bytes:
        return self.prefix + name.encode()

    def _scan(self, txn: lmdb.Transaction) -> list[tuple[bytes, Record]]:
        found: list[tuple[bytes, Record]] = []
        with txn.cursor(db=self.database.db(TABLE)) as cursor:
            if not cursor.set_range(self.prefix):
                return found
            for raw_key, raw in cursor:
                if not bytes(raw_key).startswith(self.prefix):
                    break
                found.append((bytes(raw_key), json.loads(bytes(raw))))
        return found

    def get(self, name: str) -> Record | None:
        db = self.database.db(TABLE)
        raw = self.database.read(lambda txn: txn.get(self._key(name), db=db))
        return None if raw is None else dict(json.loads(bytes(raw)))

    def put(self, name: str, record: Record) -> None:
        db = self.database.db(TABLE)
        data = json.dumps(record).encode()
        self.database.write(lambda txn: txn.put(self._key(name), data, db=db))

    def delete(self, name: str) -> bool:
        db = self.database.db(TABLE)
        return bool(self.database.write(lambda txn: txn.delete(self._key(name), db=db)))

    def all(self) -> list[Record]:
        return [record for _, record in self.database.read(self._scan)]

    def _put_pruning(self, name: str, record: Record, stale: Callable[[Record], bool]) -> None:
        """Write ``record``, dropping the records of this kind that ``stale`` says are dead."""

        def put(txn: lmdb.Transaction) -> None:
            db = self.database.db(TABLE)
            for old_key, old in self._scan(txn):
                if stale(old):
                    txn.delete(old_key, db=db)
            txn.put(self._key(name), json.dumps(record).encode(), db=db)

        self.database.write(put)


class ClientRecords(_PrefixedTable):
    """Registered applications, by client id."""

    prefix = b"client:"

    def create(self, client_id: str, record: Record) -> bool:
        """Add ``record`` unless ``client_id`` is taken; whether it was added."""
        db = self.database.db(TABLE)
        data, name = json.dumps(record).encode(), self._key(client_id)
        return bool(self.database.write(lambda txn: txn.put(name, data, db=db, overwrite=False)))


class CodeRecords(_PrefixedTable):
    """Authorization codes under their hash; ``take`` hands a code out once."""

    prefix = b"code:"

    def add(self, code_hash: str, record: Record, now: float) -> None:
        """Keep ``record`` (it has ``expires_at``), dropping codes expired before ``now``."""
        self._put_pruning(code_hash, record, lambda old: old["expires_at"] < now)

    def take(self, code_hash: str) -> tuple[Record | None, bool]:
        """The code's record and whether it had been taken before; the record stays, marked
        used, so that a replay is recognised until the code expires."""

        def take(txn: lmdb.Transaction) -> tuple[Record | None, bool]:
            db = self.database.db(TABLE)
            raw = txn.get(self._key(code_hash), db=db)
            if raw is None:
                return None, False
            record: Record = json.loads(bytes(raw))
            if record.get("used"):
                return record, True
            txn.put(self._key(code_hash), json.dumps({**record, "used": True}).encode(), db=db)
            return record, False

        return self.database.write(take)

    def attach_token(self, code_hash: str, token_hash: str) -> None:
        """Remember which access token the code was exchanged for (revoked on a replay)."""

        def attach(txn: lmdb.Transaction) -> None:
            db = self.database.db(TABLE)
            raw = txn.get(self._key(code_hash), db=db)
            if raw is not None:
                record = {**json.loads(bytes(raw)), "token": token_hash}
                txn.put(self._key(code_hash), json.dumps(record).encode(), db=db)

        self.database.write(attach)


class TokenRecords(_PrefixedTable):
    """Access tokens under their hash."""

    prefix = b"token:"

    def add(self, token_hash: str, record: Record, now: float) -> None:
        """Keep ``record`` (it has ``expires_at``), dropping tokens expired before ``now``."""
        self._put_pruning(token_hash, record, lambda old: old["expires_at"] < now)


class ConsentRecords(_PrefixedTable):
    """The scopes each person agreed to give each application."""

    prefix = b"consent:"


class KeyRecords(_PrefixedTable):
    """ID-token signing keys by key id."""

    prefix = b"key:"

    def add_first(self, kid: str, record: Record) -> Record:
        """Add ``record`` unless an unretired key exists already (another process made one
        first); the key to use."""

        def add(txn: lmdb.Transaction) -> Record:
            current = [k for _, k in self._scan(txn) if k.get("retired_at") is None]
            if current:
                return max(current, key=lambda k: k["created"])
            txn.put(self._key(kid), json.dumps(record).encode(), db=self.database.db(TABLE))
            return record

        return self.database.write(add)

    def rotate(self, kid: str, record: Record, now: float, drop_before: float) -> None:
        """Make ``record`` the key in use: the others are retired at ``now``; keys retired
        before ``drop_before`` are deleted."""

        def rotate(txn: lmdb.Transaction) -> None:
            db = self.database.db(TABLE)
            for old_key, old in self._scan(txn):
                retired = old.get("retired_at")
                if retired is None:
                    txn.put(old_key, json.dumps({**old, "retired_at": now}).encode(), db=db)
                elif retired < drop_before:
                    txn.delete(old_key, db=db)
            txn.put(self._key(kid), json.dumps(record).encode(), db=db)

        self.database.write(rotate)


def oidc_tables(database: LmdbDatabase) -> OidcTables:
    """The provider's tables on one LMDB store."""
    return OidcTables(
        ClientRecords(database),
        CodeRecords(database),
        TokenRecords(database),
        ConsentRecords(database),
        KeyRecords(database),
    )
