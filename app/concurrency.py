"""At most ``[app] client_concurrency`` costly requests of one client in flight per worker.

One address cannot hold more than a fair share of a worker's threads with slow, costly
requests (a login's frames, a preview): the next one is answered 429
``too_many_concurrent_requests`` at once, without waiting for a thread to free. Logins and
registrations share one count, previews have their own, so a page's last preview never
refuses its login.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from flask import current_app, request

from app.errors import ApiError

P = ParamSpec("P")
R = TypeVar("R")


class ClientSlots:
    """Counts each (kind, client)'s requests in flight in this process."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._lock = threading.Lock()
        self._held: Counter[tuple[str, str]] = Counter()

    @contextmanager
    def hold(self, kind: str, client: str) -> Iterator[None]:
        """One of ``client``'s slots of ``kind`` for the block; ApiError 429 when all are taken."""
        if self.per_client <= 0:
            yield
            return
        key = (kind, client)
        with self._lock:
            if self._held[key] >= self.per_client:
                raise ApiError(
                    429,
                    "too_many_concurrent_requests",
                    f"at most {self.per_client} such request(s) from one client at a time; "
                    "wait for the last one to finish",
                )
            self._held[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[key] -= 1
                if self._held[key] <= 0:
                    del self._held[key]


def one_at_a_time(kind: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A view that holds one of the client's ``kind`` slots while it runs."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def held(*args: P.args, **kwargs: P.kwargs) -> R:
            slots: ClientSlots = current_app.extensions["client_slots"]
            with slots.hold(kind, request.remote_addr or ""):
                return view(*args, **kwargs)

        return held

    return decorate
