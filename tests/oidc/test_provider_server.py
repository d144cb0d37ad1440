"""The OpenID provider on a real gunicorn, driven as a relying party drives it: Authlib's
client (OAuth2Session, PKCE S256) and the ID token checked the way Authlib's RP checks it
(joserfc against the JWKS, then CodeIDToken's claims). The person logs in through the JSON
API with a real head-turn clip, in a cookie-keeping session standing in for the browser.

Order matters within this module: it shares one server, and the last test deletes ana.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import MismatchingStateException
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from tests.oidc.flow import (
    add_client,
    admin,
    callback_server_url,
    clip,
    face_login,
    pkce,
    query,
    start_provider,
)
from tests.server.test_gunicorn import stop_server

pytestmark = [pytest.mark.server, pytest.mark.integration, pytest.mark.slow]
CODE_SECONDS = 3


@pytest.fixture(scope="module")
def frames(liveness_data) -> list[bytes]:
    return clip(liveness_data)


@pytest.fixture(scope="module")
def base(tmp_path_factory, frames):
    proc, url = start_provider(
        tmp_path_factory.mktemp("oidc") / "data",
        code_seconds=str(CODE_SECONDS),
        allowed_return_hosts="127.0.0.1",
    )
    try:
        face_login(requests.Session(), url, frames, username="ana")  # registers ana
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def meta(base) -> dict[str, Any]:
    r = requests.get(f"{base}/.well-known/openid-configuration", timeout=30)
    assert r.status_code == 200
    return dict(r.json())


@pytest.fixture(scope="module")
def wiki(base) -> dict[str, Any]:
    """A confidential client that asks for no consent."""
    redirect = callback_server_url()
    return add_client(
        base,
        name="Wiki",
        client_id="wiki",
        redirect_uris=[redirect],
        consent=False,
        post_logout_redirect_uris=[f"{redirect}/bye"],
    )


@pytest.fixture(scope="module")
def signed_in(base, frames) -> requests.Session:
    browser = requests.Session()
    face_login(browser, base, frames)
    return browser


def relying_party(client: dict[str, Any], **kwargs: Any) -> OAuth2Session:
    return OAuth2Session(
        client["client_id"],
        client.get("client_secret"),
        scope="openid profile",
        redirect_uri=client["redirect_uris"][0],
        code_challenge_method="S256",
        **kwargs,
    )


def verify_id_token(meta, token, client_id: str, nonce: str) -> CodeIDToken:
    """What Authlib's OpenID client does with an ID token (sync_openid.parse_id_token)."""
    jwks = requests.get(meta["jwks_uri"], timeout=30).json()
    algorithms = meta["id_token_signing_alg_values_supported"]
    decoded = jwt.decode(
        token["id_token"], KeySet.import_key_set(jwks), registry=JWSRegistry(algorithms=algorithms)
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"values": [meta["issuer"]]}},
        {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=120)
    return claims


def kid_of(id_token: str) -> str:
    header = id_token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def code_for(browser, meta, client, **params: Any) -> tuple[str, str, dict[str, str]]:
    """An authorize round trip for a signed-in browser: (code, verifier, callback query)."""
    verifier, _ = pkce()
    rp = relying_party(client)
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, **params
    )
    r = browser.get(url, allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text
    assert r.headers["Location"].startswith(client["redirect_uris"][0] + "?"), r.headers
    answer = query(r.headers["Location"])
    assert answer["state"] == state
    return answer["code"], verifier, answer


def exchange(client, meta, code: str, verifier: str, **kwargs: Any) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": kwargs.pop("redirect_uri", client["redirect_uris"][0]),
        "code_verifier": verifier,
    }
    auth = kwargs.pop("auth", (client["client_id"], client["client_secret"]))
    return requests.post(meta["token_endpoint"], data=data, auth=auth, timeout=30)


def test_the_whole_code_flow_as_a_relying_party(base, meta, frames):
    assert meta["issuer"] == base
    for name in ("authorization", "token", "userinfo", "end_session"):
        assert meta[f"{name}_endpoint"].startswith(base + "/oauth/")
    assert meta["code_challenge_methods_supported"] == ["S256"]
    grafana = add_client(base, name="Grafana", redirect_uris=[callback_server_url()])
    assert grafana["client_secret"] and grafana["consent"] is True

    rp = relying_party(grafana)
    verifier, nonce = pkce()[0], "n-" + pkce()[0][:16]
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier
    )
    browser = requests.Session()
    r = browser.get(url, allow_redirects=False, timeout=30)
    assert r.status_code == 302
    login = r.headers["Location"]
    assert login.startswith("/login?return=%2Foauth%2Fauthorize%3F"), login
    page = browser.get(base + login, timeout=30)
    assert page.status_code == 200 and "to continue to <strong>Grafana</strong>" in page.text
    back = query(login)["return"]
    assert f'data-return="{back}"'.replace("&", "&amp;") in page.text

    face_login(browser, base, frames)  # the login page's challenge and frames
    consent = browser.get(base + back, allow_redirects=False, timeout=30)
    assert consent.status_code == 200 and "Sign in to Grafana?" in consent.text
    assert "see your username" in consent.text
    allowed = browser.post(
        base + back, data={"decision": "allow"}, headers={"Origin": base}, allow_redirects=False
    )
    assert allowed.status_code == 302, allowed.text
    callback = allowed.headers["Location"]
    assert callback.startswith(grafana["redirect_uris"][0] + "?code=")

    token = rp.fetch_token(
        meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
    )
    assert token["token_type"].lower() == "bearer" and token["expires_in"] > 0
    claims = verify_id_token(meta, token, grafana["client_id"], nonce)
    assert claims["preferred_username"] == "ana" and claims["amr"] == ["face"]
    assert claims["nonce"] == nonce and claims["aud"] == [grafana["client_id"]]
    assert abs(claims["auth_time"] - time.time()) < 300 and claims["sub"].isdigit()
    info = rp.get(meta["userinfo_endpoint"], timeout=30)
    assert info.status_code == 200
    assert info.json() == {"sub": claims["sub"], "preferred_username": "ana"}

    # Consent is remembered: the next sign-in goes straight back with a code.
    code, _, _ = code_for(browser, meta, grafana, nonce="again")
    assert code
    # Every token request is in the audit log, and no token is.
    entries = admin(base, "GET", "/api/admin/audit").json()["entries"]
    issued = [e for e in entries if e["action"] == "oidc_token"]
    assert issued[0]["outcome"] == "ok" and issued[0]["client_id"] == grafana["client_id"]
    assert issued[0]["user"] == "ana"
    text = json.dumps(entries)
    assert token["access_token"] not in text and token["id_token"] not in text


def test_failures_are_refused_with_the_specified_errors(base, meta, wiki, signed_in):
    # A redirect URI not registered exactly: refused here, never redirected there.
    elsewhere = relying_party({**wiki, "redirect_uris": [wiki["redirect_uris"][0] + "/other"]})
    url, _ = elsewhere.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=pkce()[0]
    )
    r = signed_in.get(url, allow_redirects=False, headers={"Accept": "application/json"})
    assert r.status_code == 400 and "Location" not in r.headers
    assert r.json()["error"] == "invalid_request"

    # A code is single-use; replaying it also revokes the token it gave.
    code, verifier, _ = code_for(signed_in, meta, wiki, nonce="one")
    first = exchange(wiki, meta, code, verifier)
    assert first.status_code == 200, first.text
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert requests.get(meta["userinfo_endpoint"], headers=bearer).status_code == 200
    again = exchange(wiki, meta, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    revoked = requests.get(meta["userinfo_endpoint"], headers=bearer)
    assert revoked.status_code == 401 and "invalid_token" in revoked.headers["WWW-Authenticate"]

    # The code is bound to its PKCE verifier, its redirect URI and its client.
    code, _, _ = code_for(signed_in, meta, wiki)
    r = exchange(wiki, meta, code, pkce()[0])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    code, verifier, _ = code_for(signed_in, meta, wiki)
    r = exchange(wiki, meta, code, verifier, redirect_uri=wiki["redirect_uris"][0] + "/x")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    # A wrong client secret.
    code, verifier, _ = code_for(signed_in, meta, wiki)
    r = exchange(wiki, meta, code, verifier, auth=(wiki["client_id"], "not-the-secret"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    with pytest.raises(OAuthError) as refused:
        relying_party({**wiki, "client_secret": "wrong"}).fetch_token(
            meta["token_endpoint"], code=code, code_verifier=verifier
        )
    assert refused.value.error == "invalid_client"

    # An expired code.
    code, verifier, _ = code_for(signed_in, meta, wiki)
    time.sleep(CODE_SECONDS + 1.5)
    r = exchange(wiki, meta, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    # A bad nonce: the relying party's check refuses the ID token.
    code, verifier, _ = code_for(signed_in, meta, wiki, nonce="the-real-nonce")
    token = exchange(wiki, meta, code, verifier).json()
    assert verify_id_token(meta, token, "wiki", "the-real-nonce")["nonce"] == "the-real-nonce"
    with pytest.raises(InvalidClaimError):
        verify_id_token(meta, token, "wiki", "another-nonce")
    # ... and a state that is not the one sent.
    with pytest.raises(MismatchingStateException):
        relying_party(wiki).fetch_token(
            meta["token_endpoint"],
            authorization_response=f"{wiki['redirect_uris'][0]}?code=x&state=forged",
            state="mine",
        )

    # A public client must use PKCE; without it the client hears invalid_request.
    spa_uri = wiki["redirect_uris"][0] + "/spa"
    spa = add_client(base, name="SPA", public=True, consent=False, redirect_uris=[spa_uri])
    assert spa["client_secret"] is None
    plain = OAuth2Session(spa["client_id"], scope="openid", redirect_uri=spa["redirect_uris"][0])
    url, _ = plain.create_authorization_url(meta["authorization_endpoint"])
    r = signed_in.get(url, allow_redirects=False)
    assert r.status_code == 302 and query(r.headers["Location"])["error"] == "invalid_request"
    code, verifier, _ = code_for(signed_in, meta, spa)
    token = requests.post(
        meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": spa["redirect_uris"][0],
            "client_id": spa["client_id"],
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200 and "id_token" in token.json(), token.text
    failures = {
        e["outcome"]
        for e in admin(base, "GET", "/api/admin/audit").json()["entries"]
        if e["action"] == "oidc_token"
    }
    assert {"ok", "invalid_grant", "invalid_client"} <= failures


def test_key_rotation_keeps_tokens_in_flight_valid(base, meta, wiki, signed_in):
    code, verifier, _ = code_for(signed_in, meta, wiki, nonce="before")
    before = exchange(wiki, meta, code, verifier).json()
    old_kid = kid_of(before["id_token"])
    rotated = admin(base, "POST", "/api/admin/oidc/keys/rotate")
    assert rotated.status_code == 200 and rotated.json()["kid"] != old_kid
    kids = [k["kid"] for k in requests.get(meta["jwks_uri"]).json()["keys"]]
    assert kids[0] == rotated.json()["kid"] and old_kid in kids
    assert verify_id_token(meta, before, "wiki", "before")["sub"]  # still verifies
    code, verifier, _ = code_for(signed_in, meta, wiki, nonce="after")
    after = exchange(wiki, meta, code, verifier).json()
    assert kid_of(after["id_token"]) == kids[0]
    assert verify_id_token(meta, after, "wiki", "after")["sub"]


def test_prompt_login_and_max_age_ask_for_a_new_face_login(base, meta, wiki, signed_in, frames):
    code, verifier, _ = code_for(signed_in, meta, wiki, nonce="a")
    first = verify_id_token(meta, exchange(wiki, meta, code, verifier).json(), "wiki", "a")
    time.sleep(1.1)
    for params in ({"prompt": "login"}, {"max_age": "0"}):
        rp = relying_party(wiki)
        url, _ = rp.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=pkce()[0], **params
        )
        r = signed_in.get(url, allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?"), r.headers
        assert query(r.headers["Location"])["force"] == "1"
        page = signed_in.get(base + r.headers["Location"])
        assert 'id="login-page"' in page.text, "the camera, though a session exists"
    # prompt=none cannot show a login page: the client hears login_required.
    url, _ = relying_party(wiki).create_authorization_url(
        meta["authorization_endpoint"], code_verifier=pkce()[0], prompt="none", max_age="0"
    )
    r = signed_in.get(url, allow_redirects=False)
    assert query(r.headers["Location"])["error"] == "login_required"

    # The head turn again, then back to the application with a newer auth_time.
    verifier, challenge = pkce()
    url, state = relying_party(wiki).create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, prompt="login", nonce="b"
    )
    login = signed_in.get(url, allow_redirects=False).headers["Location"]
    face_login(signed_in, base, frames)
    r = signed_in.get(base + query(login)["return"], allow_redirects=False)
    assert r.status_code == 302 and query(r.headers["Location"])["state"] == state
    code = query(r.headers["Location"])["code"]
    fresh = verify_id_token(meta, exchange(wiki, meta, code, verifier).json(), "wiki", "b")
    assert fresh["auth_time"] > first["auth_time"]

    # max_age=0 too: after the new head turn the application gets its code (no loop).
    verifier, _ = pkce()
    url, state = relying_party(wiki).create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, max_age="0", nonce="c"
    )
    login = signed_in.get(url, allow_redirects=False).headers["Location"]
    face_login(signed_in, base, frames)
    r = signed_in.get(base + query(login)["return"], allow_redirects=False)
    assert r.status_code == 302 and query(r.headers["Location"])["state"] == state, r.headers
    code = query(r.headers["Location"])["code"]
    latest = verify_id_token(meta, exchange(wiki, meta, code, verifier).json(), "wiki", "c")
    assert latest["auth_time"] >= fresh["auth_time"]


def test_rp_initiated_logout_ends_the_sessions_at_the_provider(base, meta, wiki, signed_in):
    code, verifier, _ = code_for(signed_in, meta, wiki, nonce="x")
    token = exchange(wiki, meta, code, verifier).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(meta["userinfo_endpoint"], headers=bearer).status_code == 200
    assert signed_in.get(f"{base}/auth/verify").status_code == 200
    unused, unused_verifier, _ = code_for(signed_in, meta, wiki)

    bye = wiki["post_logout_redirect_uris"][0]
    r = signed_in.get(
        meta["end_session_endpoint"],
        params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": bye, "state": "s"},
        allow_redirects=False,
    )
    assert r.status_code == 302 and r.headers["Location"] == f"{bye}?state=s"
    assert requests.get(meta["userinfo_endpoint"], headers=bearer).status_code == 401
    assert signed_in.get(f"{base}/auth/verify").status_code == 401
    r = exchange(wiki, meta, unused, unused_verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # An unregistered post-logout address is never followed; no hint: the person confirms.
    r = signed_in.get(
        meta["end_session_endpoint"], params={"post_logout_redirect_uri": "https://evil.test/"}
    )
    assert r.status_code == 200 and "confirm-logout" in r.text
    confirmed = signed_in.post(
        meta["end_session_endpoint"],
        params={"client_id": "wiki", "post_logout_redirect_uri": "https://evil.test/"},
        headers={"Origin": base},
        allow_redirects=False,
    )
    assert confirmed.status_code == 200 and "You are logged out" in confirmed.text
    # Confirmed by the person, a registered address is followed (Grafana sends no hint).
    confirmed = signed_in.post(
        meta["end_session_endpoint"],
        params={"client_id": "wiki", "post_logout_redirect_uri": bye},
        headers={"Origin": base},
        allow_redirects=False,
    )
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == bye


def test_deleting_the_account_ends_its_tokens(base, meta, wiki, frames):
    browser = requests.Session()
    face_login(browser, base, frames)
    code, verifier, _ = code_for(browser, meta, wiki, nonce="d")
    token = exchange(wiki, meta, code, verifier).json()
    unused, unused_verifier, _ = code_for(browser, meta, wiki)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(meta["userinfo_endpoint"], headers=bearer).status_code == 200
    assert admin(base, "DELETE", "/api/admin/users/ana").status_code == 200
    assert requests.get(meta["userinfo_endpoint"], headers=bearer).status_code == 401
    assert exchange(wiki, meta, unused, unused_verifier).json()["error"] == "invalid_grant"
    assert browser.get(f"{base}/auth/verify").status_code == 401
