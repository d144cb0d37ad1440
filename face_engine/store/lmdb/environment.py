"""One LMDB environment per process, and the transaction loop every LMDB user shares.

The environment is opened on first use and again after a fork (an environment must not
cross one), so each gunicorn worker has its own. A write that finds the map full doubles it
and runs again; a transaction that finds the map grown by another process adopts its size and
runs again. The store (``database.py``) and the rate limits (``app/ratelimits.py``) use it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import lmdb

T = TypeVar("T")
Transaction = lmdb.Transaction
LmdbError = lmdb.Error


class LmdbEnvironment:
    """The LMDB folder ``path``, opened with ``options`` (``lmdb.open``'s keywords).

    ``setup`` runs once per opening, inside the map-resize retry, and its result is kept
    (``prepared``): the store opens its named databases and checks its schema there."""

    def __init__(
        self,
        path: Path,
        map_size: int,
        setup: Callable[[lmdb.Environment], Any] | None = None,
        **options: Any,
    ) -> None:
        self.path = Path(path)
        self.map_size = map_size
        self.setup = setup
        self.options = options
        self._env: lmdb.Environment | None = None
        self._prepared: Any = None
        self._pid = -1
        self._lock = threading.Lock()

    @property
    def env(self) -> lmdb.Environment:
        """This process's environment, opened on first use (and again after a fork)."""
        if self._env is None or self._pid != os.getpid():
            with self._lock:
                if self._env is None or self._pid != os.getpid():
                    self._open()
        assert self._env is not None
        return self._env

    @property
    def prepared(self) -> Any:
        """What ``setup`` returned for this process's environment."""
        self.env  # noqa: B018 - opens the environment (running ``setup``) if needed
        return self._prepared

    def _open(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = lmdb.open(
            str(self.path),
            map_size=self.map_size,
            subdir=True,
            lock=True,
            mode=0o600,
            **self.options,
        )
        setup = self.setup
        prepared = self._retrying(env, lambda: setup(env)) if setup is not None else None
        self._env, self._prepared, self._pid = env, prepared, os.getpid()

    @staticmethod
    def _retrying(env: lmdb.Environment, fn: Callable[[], T]) -> T:
        while True:
            try:
                return fn()
            except lmdb.MapResizedError:
                env.set_mapsize(0)  # another process grew the map since we opened it

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in one write transaction; grow the map and retry when it is full."""
        while True:
            env = self.env
            try:
                with env.begin(write=True) as txn:
                    return fn(txn)
            except lmdb.MapFullError:
                env.set_mapsize(env.info()["map_size"] * 2)
            except lmdb.MapResizedError:
                env.set_mapsize(0)  # another process grew the map: adopt its size

    def read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in a read transaction (a consistent snapshot)."""
        env = self.env
        return self._retrying(env, lambda: _in_read(env, fn))

    def close(self) -> None:
        if self._env is not None and self._pid == os.getpid():
            self._env.close()
        self._env = None


def _in_read(env: lmdb.Environment, fn: Callable[[lmdb.Transaction], T]) -> T:
    with env.begin() as txn:
        return fn(txn)
