"""The OpenID provider built from Authlib's parts: the authorization code grant with PKCE
(S256) and OpenID Connect, RP-initiated logout, and the bearer-token check for userinfo.

Our code only answers Authlib's questions (which client, which code, which key) from
``face_engine.Provider``; the protocol's checks and errors are Authlib's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request, ResourceProtector, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import Flask, current_app, g, request, session
from joserfc.jwk import KeySet, RSAKey

from app.oidc.models import Client, Code, Token
from app.services import current_user, get_accounts
from face_engine import AccessGrant, CodeGrant, Provider, SigningKey, UnknownUser, User

ALG = "RS256"
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class EndUser:
    """The person an authorization is for: the account, its session version and when this
    session's face login happened (epoch s)."""

    user: User
    auth_time: int

    @property
    def id(self) -> int:
        return self.user.id


def get_provider(app: Flask | None = None) -> Provider:
    """The worker's Provider, on the same store as its Accounts."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    provider: Provider | None = app.extensions.get("face_login_provider")
    if provider is None:
        with _lock:
            provider = app.extensions.get("face_login_provider")
            if provider is None:
                settings = app.extensions["face_login_settings"]
                store = get_accounts(app).store
                provider = Provider(store.oidc, store.users, store.audit, settings.oidc)
                app.extensions["face_login_provider"] = provider
    return provider


def issuer() -> str:
    """``[oidc] issuer``, else the address this request came to."""
    configured: str = current_app.extensions["face_login_settings"].oidc.issuer
    return configured.rstrip("/") or request.host_url.rstrip("/")


def private_key(key: SigningKey) -> RSAKey:
    return RSAKey.import_key(key.private_pem, parameters={"kid": key.kid, "use": "sig"})


def public_jwks() -> dict[str, Any]:
    """The JWKS: every published key's public half."""
    keys = []
    for key in get_provider().keys.published():
        public = private_key(key).as_dict(private=False)
        keys.append({**public, "alg": ALG, "use": "sig", "kid": key.kid})
    return {"keys": keys}


def claims_for(user: User, scope: str) -> dict[str, Any]:
    """What a token's scopes show of a person: ``sub`` always, the username with profile."""
    claims: dict[str, Any] = {"sub": str(user.id)}
    if "profile" in scope.split():
        claims["preferred_username"] = user.username
    return claims


def query_client(client_id: str) -> Client | None:
    client = get_provider().clients.get(client_id or "")
    return None if client is None else Client(client)


def save_token(token: dict[str, Any], req: OAuth2Request) -> None:
    """Keep the access token (its hash) with the person's session version; note for the
    audit entry who it was issued to."""
    end_user = req.user
    user = end_user.user if isinstance(end_user, EndUser) else end_user
    code: Code = req.authorization_code
    grant = AccessGrant(
        client_id=req.client.get_client_id(),
        user_id=user.id,
        session_version=code.grant.session_version,
        scope=token.get("scope", ""),
        expires_at=time.time() + int(token["expires_in"]),
    )
    get_provider().grants.save_token(token["access_token"], grant, code=code.code)
    g.oidc_issued = {"user": user.username, "scope": grant.scope}


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only; a public client must send a challenge already at /authorize."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        client: Client = grant.request.client
        data = grant.request.payload.data
        if client.client.public and not data.get("code_challenge"):
            raise InvalidRequestError("a public client must use PKCE (code_challenge, S256)")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrantType(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    """Codes kept by ``Provider.grants``: bound to the client, redirect URI, PKCE challenge
    and the person's session; spent by the first exchange."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, req: OAuth2Request) -> None:
        end_user: EndUser = req.user
        data = req.payload.data
        provider = get_provider()
        provider.grants.issue_code(
            code,
            CodeGrant(
                client_id=req.client.get_client_id(),
                redirect_uri=req.payload.redirect_uri,
                scope=req.scope,
                user_id=end_user.user.id,
                session_version=end_user.user.session_version,
                auth_time=end_user.auth_time,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                expires_at=provider.grants.code_expiry(),
            ),
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        grant = get_provider().grants.redeem_code(code, client.get_client_id())
        return None if grant is None else Code(code, grant)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Nothing left to do: redeeming the code spent it."""

    def authenticate_user(self, authorization_code: Code) -> EndUser | None:
        grant = authorization_code.grant
        user = get_provider().session_user(grant.user_id, grant.session_version)
        return None if user is None else EndUser(user, grant.auth_time)


class FaceOpenIDCode(OpenIDCode):  # type: ignore[misc]
    """ID tokens signed with the store's current key, carrying amr ["face"] and auth_time."""

    def exists_nonce(self, nonce: str, req: OAuth2Request) -> bool:
        return False  # the relying party checks the nonce it sent in the ID token

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return private_key(get_provider().keys.signing_key())

    def get_client_algorithm(self, client: Client) -> str:
        return ALG

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": ALG, "kid": get_provider().keys.signing_key().kid}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        lifetime = current_app.extensions["face_login_settings"].oidc.id_token_seconds
        expires = int(time.time()) + lifetime
        return {"iss": issuer(), "aud": [client.get_client_id()], "exp": expires}

    def generate_user_info(self, user: EndUser | User, scope: str) -> dict[str, Any]:
        return claims_for(user.user if isinstance(user, EndUser) else user, scope)


class FaceEndSession(EndSessionEndpoint):  # type: ignore[misc]
    """RP-initiated logout: every session of the person ends, at the provider too."""

    def get_server_jwks(self) -> KeySet:
        return KeySet.import_key_set(cast(Any, public_jwks()))

    def get_algorithms(self) -> list[str]:
        return [ALG]

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Any:
        """The application the ID token was for: ours name one audience, in a list."""
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return query_client(aud) if isinstance(aud, str) else None

    def is_post_logout_redirect_uri_legitimate(
        self, req: OAuth2Request, uri: str, client: Any, logout_hint: str | None
    ) -> bool:
        """Without an ID token, a registered address is followed once the person confirmed
        on our page (the form posts back here)."""
        return request.method == "POST"

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        user = current_user()
        claims = end_session_request.id_token_claims or {}
        if user is None and str(claims.get("sub", "")).isdigit():
            try:  # no cookie here: the ID token says whose sessions to end
                user = get_accounts().user(int(claims["sub"]))
            except UnknownUser:
                user = None
        if user is not None:
            get_accounts().end_sessions(user.id)
        session.pop("user_id", None)
        session.pop("version", None)
        session.pop("auth_time", None)


class AccessTokens(BearerTokenValidator):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> Token | None:
        provider = get_provider()
        found = provider.token_user(token_string)
        if found is None:
            return None
        user, grant = found
        client = provider.clients.get(grant.client_id)
        return None if client is None else Token(user, grant, client)


def build_server(app: Flask) -> tuple[AuthorizationServer, ResourceProtector]:
    """The authorization server and the resource protector, bound to ``app``."""
    settings = app.extensions["face_login_settings"].oidc
    app.config.update(
        OAUTH2_SCOPES_SUPPORTED=["openid", "profile"],
        OAUTH2_TOKEN_EXPIRES_IN={"authorization_code": settings.access_token_seconds},
    )
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(CodeGrantType, [S256Challenge(required=True), FaceOpenIDCode()])
    server.register_endpoint(FaceEndSession)
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokens())
    return server, protector
