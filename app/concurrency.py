"""A client's fair share of the workers: costly requests (logins, registrations, previews)
are bounded per client address in two ways.

- At most ``[app] client_concurrency`` in flight per worker (logins and registrations share
  one count, previews have their own, so a page's last preview never refuses its login); the
  next is answered 429 ``too_many_concurrent_requests`` at once, without waiting for a thread.
- At most ``[app] client_work_limit`` milliseconds of worker time per window, counted in the
  rate-limit storage (so across workers, and across hosts with Redis): every costly request is
  charged the time it held its thread, and a client over its budget is answered 429
  ``too_much_work`` until the window passes. Requests the rate limits allow can still cost
  very different amounts (a preview of a mosaic of faces, a head turn of 60 frames); this
  bounds what they cost together.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from flask import current_app, request
from limits import RateLimitItem, parse

from app.errors import ApiError
from app.extensions import limiter

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


class WorkBudget:
    """Milliseconds of worker time per client and window (``app.config["CLIENT_WORK_LIMIT"]``,
    empty: none), in the rate limits' storage."""

    @staticmethod
    def _limit() -> RateLimitItem | None:
        configured = str(current_app.config.get("CLIENT_WORK_LIMIT") or "")
        if not configured or not current_app.config.get("RATELIMIT_ENABLED", True):
            return None
        return parse(configured)

    def check(self, client: str) -> None:
        """ApiError 429 ``too_much_work`` when ``client`` has used up its budget."""
        limit = self._limit()
        if limit is not None and not limiter.limiter.test(limit, "work", client):
            raise ApiError(
                429,
                "too_much_work",
                f"this client has used its share of the service ({limit} milliseconds of "
                "work); wait and try again",
            )

    def charge(self, client: str, seconds: float) -> None:
        limit = self._limit()
        if limit is not None:
            limiter.limiter.hit(limit, "work", client, cost=max(1, round(seconds * 1000)))


def costly(kind: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A view that holds one of the client's ``kind`` slots while it runs, within the
    client's work budget, and is charged the time it takes."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def held(*args: P.args, **kwargs: P.kwargs) -> R:
            slots: ClientSlots = current_app.extensions["client_slots"]
            budget: WorkBudget = current_app.extensions["work_budget"]
            client = request.remote_addr or ""
            budget.check(client)
            with slots.hold(kind, client):
                started = time.perf_counter()
                try:
                    return view(*args, **kwargs)
                finally:
                    budget.charge(client, time.perf_counter() - started)

        return held

    return decorate
