"""Rate-limit counters that every gunicorn worker on the host shares: a ``limits`` storage
on an LMDB folder (``lmdb://``, by default ``<data>/ratelimits``).

Each hit is one LMDB write transaction (read the counter, add, write back), through the
store's environment helper (``face_engine.store.lmdb.environment``: opened once per process,
the map grown when full). LMDB lets one writer in at a time across every process that opens
the folder, so the workers' counts add up exactly. Counters are fixed windows: a count and
the time its window ends. They are not fsynced (a power cut may forget the last minute of
counts); expired ones are swept now and then.
"""

from __future__ import annotations

import hashlib
import struct
import time
import urllib.parse
from pathlib import Path

from limits.errors import ConfigurationError
from limits.storage import Storage

from face_engine.store.lmdb.environment import LmdbEnvironment, LmdbError, Transaction

SCHEME = "lmdb"
_COUNTER = struct.Struct("<qd")  # hits, end of the window (Unix time)
_SWEEP_EVERY = 1024  # writes of one process between sweeps of expired counters


def _key(key: str) -> bytes:
    """The LMDB key of a limit key; long ones (LMDB takes up to 511 bytes) by their hash."""
    raw = key.encode()
    return raw if len(raw) <= 400 else b"sha256:" + hashlib.sha256(raw).digest()


def storage_uri(configured: str, data_dir: Path) -> str:
    """``configured``, with a bare ``lmdb://`` pointed at ``<data_dir>/ratelimits``."""
    if configured.strip() in (f"{SCHEME}://", f"{SCHEME}:"):
        return f"{SCHEME}://{(data_dir / 'ratelimits').resolve()}"
    return configured


class LMDBStorage(Storage):
    """Fixed-window counters in an LMDB folder, exact across the processes of one host."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(
        self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool
    ) -> None:
        parsed = urllib.parse.urlparse(uri or "")
        path = parsed.path
        if parsed.netloc or not path.startswith("/"):
            raise ConfigurationError(f"{uri!r}: give an absolute folder, e.g. lmdb:///srv/limits")
        self.path = Path(path)
        self.environment = LmdbEnvironment(
            self.path,
            int(options.get("map_size", 32 * 1024 * 1024)),
            sync=False,
            metasync=False,
            readahead=False,
        )
        self._write = self.environment.write
        self._read = self.environment.read
        self._writes = 0
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return LmdbError

    @staticmethod
    def _counter(txn: Transaction, key: bytes, now: float) -> tuple[int, float]:
        """(hits, end of window) of a live counter; (0, now) when absent or expired."""
        raw = txn.get(key)
        if raw is None:
            return 0, now
        hits, ends = _COUNTER.unpack(raw)
        return (hits, ends) if ends > now else (0, now)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to ``key``'s window (a new one of ``expiry`` seconds if none is
        running) and return the new count, in one transaction."""

        def add(txn: Transaction) -> int:
            now = time.time()
            hits, ends = self._counter(txn, _key(key), now)
            if hits == 0:
                ends = now + expiry
            hits += amount
            txn.put(_key(key), _COUNTER.pack(hits, ends))
            return hits

        hits = self._write(add)
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self.sweep()
        return hits

    def get(self, key: str) -> int:
        return self._read(lambda txn: self._counter(txn, _key(key), time.time())[0])

    def get_expiry(self, key: str) -> float:
        return self._read(lambda txn: self._counter(txn, _key(key), time.time())[1])

    def check(self) -> bool:
        try:
            self.environment.env.stat()
        except LmdbError:
            return False
        return True

    def clear(self, key: str) -> None:
        self._write(lambda txn: txn.delete(_key(key)))

    def reset(self) -> int | None:
        """Forget every counter; returns how many there were."""

        def drop(txn: Transaction) -> int:
            keys = [bytes(k) for k in txn.cursor().iternext(values=False)]
            for key in keys:
                txn.delete(key)
            return len(keys)

        return self._write(drop)

    def sweep(self) -> int:
        """Delete expired counters; returns how many."""

        def expired(txn: Transaction) -> int:
            now = time.time()
            stale = [bytes(k) for k, v in txn.cursor() if _COUNTER.unpack(v)[1] <= now]
            for key in stale:
                txn.delete(key)
            return len(stale)

        return self._write(expired)
