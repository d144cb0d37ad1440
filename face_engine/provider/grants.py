"""What a person granted an application: authorization codes (single-use, seconds long),
access tokens, and remembered consent. Codes and tokens are stored under their SHA-256.

Each code and token carries the person's session version: a logout, an account deletion or
an admin delete voids them with the person's sessions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from face_engine.store.interfaces import OidcTables


def token_hash(value: str) -> str:
    """How a code or token is kept and looked up: its SHA-256 (they are random, 256 bits)."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """An authorization code's binding: client, exact redirect URI, PKCE challenge, the
    person (and their session version), when they logged in, the nonce."""

    client_id: str
    redirect_uri: str
    scope: str
    user_id: int
    session_version: int
    auth_time: int
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """What an access token may read, for whom, until when."""

    client_id: str
    user_id: int
    session_version: int
    scope: str
    expires_at: float


class Grants:
    """Issue and redeem codes, keep and look up access tokens, remember consent."""

    def __init__(
        self, tables: OidcTables, code_seconds: float, access_token_seconds: float
    ) -> None:
        self.codes = tables.codes
        self.tokens = tables.tokens
        self.consents = tables.consents
        self.code_seconds = code_seconds
        self.access_token_seconds = access_token_seconds

    def issue_code(self, code: str, grant: CodeGrant) -> None:
        """Keep ``code`` (made by the caller) bound to ``grant``."""
        self.codes.add(token_hash(code), dataclasses.asdict(grant), time.time())

    def code_expiry(self) -> float:
        return time.time() + self.code_seconds

    def redeem_code(self, code: str, client_id: str) -> CodeGrant | None:
        """The grant of ``code`` if it is this client's, unexpired and used for the first
        time; None otherwise. A code is spent by the first attempt, whatever its outcome; a
        replay also revokes the token the first exchange gave (RFC 6749 section 4.1.2)."""
        record, replayed = self.codes.take(token_hash(code))
        if record is None:
            return None
        if replayed:
            if record.get("token"):
                self.tokens.delete(record["token"])
            return None
        fields = {f.name for f in dataclasses.fields(CodeGrant)}
        grant = CodeGrant(**{k: v for k, v in record.items() if k in fields})
        if grant.client_id != client_id or grant.expires_at < time.time():
            return None
        return grant

    def save_token(self, access_token: str, grant: AccessGrant, code: str | None = None) -> None:
        """Keep an issued access token (under its hash), linked to the code it came from."""
        digest = token_hash(access_token)
        self.tokens.add(digest, dataclasses.asdict(grant), time.time())
        if code is not None:
            self.codes.attach_token(token_hash(code), digest)

    def access(self, access_token: str) -> AccessGrant | None:
        """The grant of an unexpired access token; None for an unknown or expired one."""
        record = self.tokens.get(token_hash(access_token))
        if record is None or record["expires_at"] < time.time():
            return None
        return AccessGrant(**record)

    def has_consent(self, user_id: int, client_id: str, scopes: list[str]) -> bool:
        record = self.consents.get(f"{user_id}:{client_id}")
        return record is not None and set(scopes) <= set(record["scopes"])

    def remember_consent(self, user_id: int, client_id: str, scopes: list[str]) -> None:
        record: dict[str, Any] = self.consents.get(f"{user_id}:{client_id}") or {"scopes": []}
        merged = sorted(set(record["scopes"]) | set(scopes))
        self.consents.put(f"{user_id}:{client_id}", {"scopes": merged, "time": time.time()})
