"""Pending logins: the fused frames of a login that needs the person's username to finish.

Kept like challenges (the store's ``pending_logins``, an ``ExpiringTable``): short-lived,
single-use (taking deletes in the same transaction, across processes), bound to the client
that made the attempt. Only
embeddings are kept, never frames.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from face_engine.errors import PendingLoginInvalid
from face_engine.store.interfaces import ExpiringTable


@dataclass(frozen=True, slots=True, eq=False)
class PendingLogin:
    """The embedded frames of one attempt, per model tag (two during a migration)."""

    id: str
    vectors: dict[str, NDArray[np.float32]]
    expires_at: float

    @property
    def expires_in(self) -> int:
        return max(0, round(self.expires_at - time.time()))


class PendingLogins:
    """Puts pending logins for ``seconds`` and takes them back once."""

    def __init__(self, records: ExpiringTable, seconds: int) -> None:
        self.records = records
        self.seconds = seconds

    def put(self, client: str, vectors: dict[str, NDArray[np.float32]]) -> PendingLogin:
        now = time.time()
        pending = PendingLogin(secrets.token_urlsafe(18), vectors, now + self.seconds)
        record = json.dumps(
            {
                "client": client,
                "expires_at": pending.expires_at,
                "vectors": {tag: v.astype(float).tolist() for tag, v in vectors.items()},
            }
        ).encode()
        self.records.put(pending.id, record, pending.expires_at, now)
        return pending

    def take(self, pending_id: str, client: str) -> PendingLogin:
        """The pending login, never to be taken again; PendingLoginInvalid when it is
        unknown, used, expired or another client's."""
        raw = self.records.take(pending_id) if 0 < len(pending_id) <= 64 else None
        if raw is None:
            raise PendingLoginInvalid()
        data = json.loads(raw)
        if data["expires_at"] < time.time():
            raise PendingLoginInvalid("this login has expired; log in again")
        if data["client"] != client:
            raise PendingLoginInvalid("this login was started by another client; log in again")
        vectors = {tag: np.asarray(v, np.float32) for tag, v in data["vectors"].items()}
        return PendingLogin(pending_id, vectors, data["expires_at"])
