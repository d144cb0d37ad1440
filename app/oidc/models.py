"""Authlib's view of our records: the client, code and token mixins it asks questions of."""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin

from face_engine import AccessGrant, CodeGrant, OidcClient, User

AMR = ["face"]
"""RFC 8176: the person was authenticated by facial recognition."""


class Client(ClientMixin):  # type: ignore[misc]
    """A registered application: exact redirect URIs, its scopes, secret or public (PKCE)."""

    def __init__(self, client: OidcClient) -> None:
        self.client = client
        self.client_id = client.client_id

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {"post_logout_redirect_uris": list(self.client.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.client.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes this client may have; None (invalid_scope) without openid."""
        wanted = scope_to_list(scope) or []
        allowed = [s for s in self.client.scopes if s in wanted]
        return " ".join(allowed) if "openid" in allowed else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return True
        if self.client.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    """A redeemed authorization code's binding."""

    def __init__(self, code: str, grant: CodeGrant) -> None:
        self.code = code
        self.grant = grant
        self.code_challenge = grant.code_challenge
        self.code_challenge_method = grant.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.grant.redirect_uri

    def get_scope(self) -> str:
        return self.grant.scope

    def get_nonce(self) -> str | None:
        return self.grant.nonce

    def get_auth_time(self) -> int:
        return self.grant.auth_time

    def get_amr(self) -> list[str]:
        return AMR


class Token(TokenMixin):  # type: ignore[misc]
    """A live access token: who it stands for and what it may read."""

    def __init__(self, user: User, grant: AccessGrant, client: OidcClient) -> None:
        self.user = user
        self.grant = grant
        self.client = Client(client)
        self.scope = grant.scope

    def check_client(self, client: Client) -> bool:
        return bool(client.get_client_id() == self.grant.client_id)

    def get_scope(self) -> str:
        return self.grant.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.grant.expires_at - time.time()))

    def is_expired(self) -> bool:
        return self.grant.expires_at < time.time()

    def is_revoked(self) -> bool:
        return False  # revoked tokens are not found at all

    def get_user(self) -> User:
        return self.user

    def get_client(self) -> Client:
        return self.client
