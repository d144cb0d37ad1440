"""The OpenID provider's use cases, without the protocol (app/oidc speaks it, with Authlib):
registered applications, signing keys, codes and tokens, and who a token stands for."""

from __future__ import annotations

import time
from typing import Any

from face_engine.config import OidcConfig
from face_engine.errors import UnknownUser
from face_engine.provider.clients import SCOPES, ClientRegistry, OidcClient
from face_engine.provider.grants import AccessGrant, CodeGrant, Grants
from face_engine.provider.keys import KeyRing, SigningKey
from face_engine.store.interfaces import AuditTable, OidcTables, UserTable
from face_engine.store.records import User

__all__ = [
    "SCOPES",
    "AccessGrant",
    "CodeGrant",
    "OidcClient",
    "Provider",
    "SigningKey",
]


class Provider:
    """Clients, keys and grants on one store's tables; one per process."""

    def __init__(
        self, tables: OidcTables, users: UserTable, audit: AuditTable, config: OidcConfig
    ) -> None:
        self.users = users
        self.config = config
        self.clients = ClientRegistry(tables.clients)
        self.keys = KeyRing(tables.keys, config.retired_key_seconds)
        self.grants = Grants(tables, config.code_seconds, config.access_token_seconds)
        self.audit_entries = audit

    def session_user(self, user_id: int, session_version: int) -> User | None:
        """The person a code or token stands for, if that session still lives: None after a
        logout (a newer session version) or when the account was deleted."""
        try:
            user = self.users.get_user(user_id)
        except UnknownUser:
            return None
        return user if user.session_version == session_version else None

    def token_user(self, access_token: str) -> tuple[User, AccessGrant] | None:
        """Who an access token stands for, and what it may read; None if the token is
        unknown or expired, its application removed, or the person's session ended."""
        grant = self.grants.access(access_token)
        if grant is None or self.clients.get(grant.client_id) is None:
            return None
        user = self.session_user(grant.user_id, grant.session_version)
        return None if user is None else (user, grant)

    def audit(self, client: str, outcome: str, client_id: str, **fields: Any) -> None:
        """Record a token request in the audit log: when, from where, for which application,
        how it ended; never the token."""
        entry = {
            "time": time.time(),
            "client": client,
            "action": "oidc_token",
            "outcome": outcome,
            "client_id": client_id,
            "user": fields.pop("user", None),
            "distance": None,
            **fields,
        }
        self.audit_entries.append(entry)
