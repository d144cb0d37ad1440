"""The OpenID provider's endpoints: discovery, authorize (face login, consent), token,
userinfo, JWKS and RP-initiated logout."""

from __future__ import annotations

import time
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.integrations.flask_oauth2.requests import FlaskJsonRequest
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)
from flask.typing import ResponseReturnValue

from app.errors import error_response
from app.oidc.returns import login_url
from app.oidc.server import EndUser, claims_for, get_provider, issuer, public_jwks
from app.security import SECURITY_HEADERS, csrf_exempt
from app.services import current_user

bp = Blueprint("oidc", __name__)
SCOPE_TEXT = {
    "openid": "know that you are the same person each time you sign in",
    "profile": "see your username",
}


def _servers() -> Any:
    return current_app.extensions["face_login_oidc"]


def _open_to_all(response: Response) -> Response:
    """Endpoints that read no cookie may be called from any origin (single-page apps)."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-store"
    return response


def _redirects_to(response: Response, uri: str) -> Response:
    """Let a form on this page end at ``uri``'s origin: browsers apply the page's CSP
    ``form-action`` to where the form's answer redirects."""
    parts = urlsplit(uri)
    policy = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}"
    )
    response.headers["Content-Security-Policy"] = policy
    return response


@bp.get("/.well-known/openid-configuration")
def discovery() -> ResponseReturnValue:
    base = issuer()
    return _open_to_all(
        jsonify(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/oauth/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "userinfo_endpoint": f"{base}/oauth/userinfo",
                "jwks_uri": f"{base}/oauth/jwks",
                "end_session_endpoint": f"{base}/oauth/logout",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "code_challenge_methods_supported": ["S256"],
                "prompt_values_supported": ["none", "login", "consent"],
                "claims_supported": [
                    "sub",
                    "preferred_username",
                    "auth_time",
                    "amr",
                    "nonce",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                ],
            }
        )
    )


@bp.get("/oauth/jwks")
def jwks() -> ResponseReturnValue:
    return _open_to_all(jsonify(public_jwks()))


def _without_prompt_login() -> str:
    """This authorize request's path, without ``prompt=login`` (done once it comes back)."""
    params = []
    for name, value in parse_qsl(request.query_string.decode(), keep_blank_values=True):
        if name == "prompt":
            value = " ".join(p for p in value.split() if p != "login")
            if not value:
                continue
        params.append((name, value))
    return f"{request.path}?{urlencode(params)}"


def _needs_fresh_login(prompts: list[str], auth_time: float) -> bool:
    """``prompt=login``, ``max_age`` past (0 too), or no login time on the session; a face
    login made after the request asked for one satisfies all of them."""
    fresh_after = session.get("oidc_fresh_after")
    if fresh_after is not None and auth_time >= float(fresh_after):
        return False
    max_age = request.values.get("max_age", "")
    stale = max_age.isdigit() and time.time() - auth_time >= int(max_age)
    return "login" in prompts or stale or not auth_time


def _error(server: Any, error: OAuth2Error) -> ResponseReturnValue:
    """Back to the client with the error when its redirect URI is known; else said here."""
    if error.redirect_uri:
        error.state = request.values.get("state")
        return cast(Response, server.handle_error_response(None, error))
    return error_response(400, error.error, error.description or error.error)


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    """Check the application's request; a face login (fresh when asked); consent when the
    application wants it; then back to the application with a code."""
    server, _ = _servers()
    user = current_user()
    auth_time = float(session.get("auth_time", 0)) if user else 0.0
    end_user = EndUser(user, int(auth_time)) if user else None
    try:
        grant = server.get_consent_grant(end_user=end_user)
    except OAuth2Error as error:
        return _error(server, error)
    prompts = (request.values.get("prompt") or "").split()
    if end_user is None or _needs_fresh_login(prompts, auth_time):
        if "none" in prompts:
            return _error(server, LoginRequiredError(redirect_uri=grant.redirect_uri))
        if end_user is not None:
            session["oidc_fresh_after"] = time.time()
        target = _without_prompt_login()
        return redirect(login_url("", target, force=end_user is not None))
    client = grant.client.client
    scopes = grant.request.scope.split()
    provider = get_provider()
    asked = "consent" in prompts or (
        client.consent and not provider.grants.has_consent(end_user.id, client.client_id, scopes)
    )
    if asked:
        if "none" in prompts:
            return _error(server, ConsentRequiredError(redirect_uri=grant.redirect_uri))
        if request.method == "GET":
            page = render_template(
                "consent.html",
                client=client,
                scopes=[SCOPE_TEXT[s] for s in scopes if s in SCOPE_TEXT],
                redirect_host=urlsplit(grant.redirect_uri).netloc,
            )
            return _redirects_to(Response(page), grant.redirect_uri)
        if request.form.get("decision") != "allow":
            return cast(Response, server.create_authorization_response(grant=grant))
        provider.grants.remember_consent(end_user.id, client.client_id, scopes)
    session.pop("oidc_fresh_after", None)
    return cast(Response, server.create_authorization_response(grant=grant, grant_user=end_user))


def _token_client_id() -> str:
    basic_id, _ = extract_basic_authorization(request.headers)
    return str(basic_id or request.form.get("client_id") or "")[:100]


@bp.post("/oauth/token")
@csrf_exempt
def token() -> ResponseReturnValue:
    """Code (and PKCE verifier) for tokens; each answer is in the audit log, never a token."""
    server, _ = _servers()
    response: Response = server.create_token_response()
    issued = g.pop("oidc_issued", None)
    body = response.get_json(silent=True) or {}
    get_provider().audit(
        request.remote_addr or "",
        "ok" if response.status_code == 200 else str(body.get("error", "error")),
        _token_client_id(),
        **(issued or {}),
    )
    return _open_to_all(response)


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
@csrf_exempt
def userinfo() -> ResponseReturnValue:
    server, protector = _servers()
    try:
        found = protector.validate_request(["openid"], FlaskJsonRequest(request))
    except OAuth2Error as error:
        return _open_to_all(server.handle_error_response(None, error))
    return _open_to_all(jsonify(claims_for(found.user, found.scope)))


@bp.route("/oauth/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """RP-initiated logout: with a valid id_token_hint at once; else after the person
    confirms. Every session of the person ends; back to the application when it said where
    (a registered post_logout_redirect_uri)."""
    server, _ = _servers()
    try:
        ending = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return error_response(400, error.error, error.description or error.error)
    if ending.needs_confirmation and request.method == "GET":
        page = Response(render_template("logout.html", client=ending.client, done=False))
        target = request.args.get("post_logout_redirect_uri", "")
        registered = ending.client.client.post_logout_redirect_uris if ending.client else ()
        return _redirects_to(page, target) if target in registered else page
    response = server.create_endpoint_response("end_session", ending)
    return response or render_template("logout.html", client=ending.client, done=True)
