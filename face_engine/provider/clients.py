"""Applications registered by the admin to sign people in through the OpenID provider."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from face_engine.errors import ClientExists, InvalidClient, UnknownClient
from face_engine.store.interfaces import ClientTable

SCOPES = ("openid", "profile")
"""What the provider can give: ``openid`` (``sub``) and ``profile`` (``preferred_username``)."""
CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def secret_hash(secret: str) -> str:
    """A client secret as kept: secrets are 256 random bits, so one SHA-256 is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OidcClient:
    """A registered application. A public one (a single-page or native app) has no secret
    and must use PKCE; ``consent``: ask the person before the first sign-in."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    public: bool
    consent: bool
    post_logout_redirect_uris: tuple[str, ...] = ()
    secret_hash: str | None = None
    created: float = 0.0

    def check_secret(self, secret: str) -> bool:
        """Whether ``secret`` is this client's (constant time); never for a public client."""
        if self.public or self.secret_hash is None:
            return False
        return hmac.compare_digest(secret_hash(secret), self.secret_hash)

    def public_json(self) -> dict[str, Any]:
        """What the admin sees: everything but the secret's hash."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "scopes": list(self.scopes),
            "public": self.public,
            "consent": self.consent,
            "created": self.created,
        }


def _record(client: OidcClient) -> dict[str, Any]:
    return {**client.public_json(), "secret_hash": client.secret_hash}


def _client(record: dict[str, Any]) -> OidcClient:
    return OidcClient(
        client_id=record["client_id"],
        name=record["name"],
        redirect_uris=tuple(record["redirect_uris"]),
        scopes=tuple(record["scopes"]),
        public=record["public"],
        consent=record["consent"],
        post_logout_redirect_uris=tuple(record.get("post_logout_redirect_uris", ())),
        secret_hash=record.get("secret_hash"),
        created=record.get("created", 0.0),
    )


def _check_uri(uri: str) -> str:
    """A redirect URI as registered: absolute http(s), no fragment; compared exactly."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise InvalidClient(f"{uri!r} is not an absolute http(s) URI without a fragment")
    if "*" in uri:
        raise InvalidClient(f"{uri!r}: redirect URIs are matched exactly, with no wildcards")
    return uri


class ClientRegistry:
    """Register, read and remove applications."""

    def __init__(self, records: ClientTable) -> None:
        self.records = records

    def register(
        self,
        name: str,
        redirect_uris: list[str],
        *,
        client_id: str | None = None,
        scopes: list[str] | None = None,
        public: bool = False,
        consent: bool = True,
        post_logout_redirect_uris: list[str] | None = None,
    ) -> tuple[OidcClient, str | None]:
        """A new application and its secret (shown this once; None for a public client).

        :raise InvalidClient: a bad client id, name, URI or scope; ClientExists.
        """
        client_id = client_id or secrets.token_urlsafe(16)
        if not CLIENT_ID.fullmatch(client_id):
            raise InvalidClient("client_id is 1 to 64 letters, digits, '.', '_' or '-'")
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidClient("name is 1 to 100 characters")
        if not redirect_uris:
            raise InvalidClient("at least one redirect URI is required")
        scopes = list(scopes or SCOPES)
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or "openid" not in scopes:
            raise InvalidClient(f"scopes are openid (required) and profile; not {unknown}")
        secret = None if public else secrets.token_urlsafe(32)
        client = OidcClient(
            client_id=client_id,
            name=name,
            redirect_uris=tuple(_check_uri(u) for u in redirect_uris),
            scopes=tuple(s for s in SCOPES if s in scopes),
            public=public,
            consent=consent,
            post_logout_redirect_uris=tuple(_check_uri(u) for u in post_logout_redirect_uris or ()),
            secret_hash=None if secret is None else secret_hash(secret),
            created=time.time(),
        )
        if not self.records.create(client_id, _record(client)):
            raise ClientExists(f"the client id {client_id!r} is taken")
        return client, secret

    def get(self, client_id: str) -> OidcClient | None:
        record = self.records.get(client_id) if CLIENT_ID.fullmatch(client_id) else None
        return None if record is None else _client(record)

    def require(self, client_id: str) -> OidcClient:
        client = self.get(client_id)
        if client is None:
            raise UnknownClient()
        return client

    def all(self) -> list[OidcClient]:
        return sorted((_client(r) for r in self.records.all()), key=lambda c: c.created)

    def remove(self, client_id: str) -> None:
        """Forget the application: its tokens are refused from now on (UnknownClient)."""
        if not CLIENT_ID.fullmatch(client_id) or not self.records.delete(client_id):
            raise UnknownClient()
