"""The provider's pieces without models: clients, codes, keys on a real store; the return
address check, forward auth and the admin API on the web layer with a stub of Accounts."""

from __future__ import annotations

import io
import time

import pytest

from face_engine import ClientExists, CodeGrant, InvalidClient, UnknownClient
from face_engine.config import OidcConfig, StoreConfig
from face_engine.provider import Provider
from tests.helpers import ADMIN_TOKEN, NO_LIMITS, StubAccounts, post_form
from tests.stores import open_test_store

CB = "https://app.example.com/callback"


@pytest.fixture
def store(tmp_path):
    store = open_test_store(tmp_path / "lmdb")
    yield store
    store.close()


def provider_on(store, config: OidcConfig) -> Provider:
    return Provider(store.oidc, store.users, store.audit, config)


@pytest.fixture
def provider(store) -> Provider:
    return provider_on(store, OidcConfig(retired_key_seconds=3600))


def grant(**fields) -> CodeGrant:
    values = dict(
        client_id="app",
        redirect_uri=CB,
        scope="openid",
        user_id=1,
        session_version=0,
        auth_time=int(time.time()),
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
        expires_at=time.time() + 60,
    )
    return CodeGrant(**{**values, **fields})


@pytest.mark.parametrize(
    "uris",
    [[], ["ftp://x/cb"], ["/relative"], ["https://app.example.com/cb#frag"], ["https://*.x/cb"]],
)
def test_clients_need_exact_absolute_redirect_uris(provider, uris):
    with pytest.raises(InvalidClient):
        provider.clients.register("App", uris)


def test_clients_secret_scopes_and_ids(provider):
    client, secret = provider.clients.register("App", [CB], client_id="app")
    assert secret and client.check_secret(secret) and not client.check_secret(secret + "x")
    assert "secret_hash" not in client.public_json() and secret not in str(client.public_json())
    with pytest.raises(ClientExists):
        provider.clients.register("Other", [CB], client_id="app")
    with pytest.raises(InvalidClient):
        provider.clients.register("App", [CB], scopes=["profile"])  # openid is required
    with pytest.raises(InvalidClient):
        provider.clients.register("App", [CB], client_id="bad id!")
    public, none = provider.clients.register("SPA", [CB], public=True)
    assert none is None and not public.check_secret("")
    provider.clients.remove("app")
    assert provider.clients.get("app") is None
    with pytest.raises(UnknownClient):
        provider.clients.remove("app")


def test_a_code_is_redeemed_once_by_its_client_before_it_expires(provider):
    provider.grants.issue_code("c1", grant())
    assert provider.grants.redeem_code("c1", "other") is None  # spent by the wrong client
    assert provider.grants.redeem_code("c1", "app") is None
    issued = grant(nonce="n", code_challenge="abc", code_challenge_method="S256")
    provider.grants.issue_code("c2", issued)
    assert provider.grants.redeem_code("c2", "app") == issued
    assert provider.grants.redeem_code("c2", "app") is None  # replayed
    provider.grants.issue_code("c3", grant(expires_at=time.time() - 1))
    assert provider.grants.redeem_code("c3", "app") is None
    assert provider.grants.redeem_code("never-issued", "app") is None


def test_a_replayed_code_revokes_its_token(provider):
    from face_engine import AccessGrant

    provider.grants.issue_code("code", grant())
    assert provider.grants.redeem_code("code", "app") is not None
    access = AccessGrant("app", 1, 0, "openid", time.time() + 60)
    provider.grants.save_token("token", access, code="code")
    assert provider.grants.access("token") == access
    assert provider.grants.redeem_code("code", "app") is None
    assert provider.grants.access("token") is None


def test_codes_and_tokens_are_kept_only_as_hashes(tmp_path):
    """Read from LMDB's bytes."""
    from face_engine import AccessGrant
    from face_engine.store.lmdb import store_on
    from face_engine.store.lmdb.database import LmdbDatabase

    database = LmdbDatabase(tmp_path / "raw", StoreConfig())
    provider = provider_on(store_on(database, StoreConfig()), OidcConfig())
    provider.grants.issue_code("visible-code", grant())
    provider.grants.save_token("visible-token", AccessGrant("app", 1, 0, "openid", 1e12))
    with database.env.begin() as txn, txn.cursor(db=database.db("oidc")) as cursor:
        dump = b"".join(bytes(k) + bytes(v) for k, v in cursor)
    assert b"visible-code" not in dump and b"visible-token" not in dump
    database.close()


def test_rotation_keeps_the_old_key_published_for_a_while(store):
    provider = provider_on(store, OidcConfig(id_token_seconds=1, retired_key_seconds=1))
    first = provider.keys.signing_key()
    assert provider.keys.signing_key() == first  # made once, then kept
    second = provider.keys.rotate()
    assert provider.keys.signing_key() == second
    assert [k.kid for k in provider.keys.published()] == [second.kid, first.kid]
    time.sleep(1.1)
    assert [k.kid for k in provider.keys.published()] == [second.kid]


def test_oidc_config_refuses_bad_lifetimes():
    with pytest.raises(ValueError):
        OidcConfig(code_seconds=0)
    with pytest.raises(ValueError):
        OidcConfig(id_token_seconds=7200, retired_key_seconds=3600)


@pytest.fixture
def stub(store) -> StubAccounts:
    stub = StubAccounts()
    stub.store = store  # type: ignore[attr-defined]
    return stub


@pytest.fixture
def app(tmp_path, stub):
    from app import create_app

    env = {
        "FACE_LOGIN_DATA": str(tmp_path / "data"),
        "FACE_LOGIN_ADMIN_TOKEN": ADMIN_TOKEN,
        "FACE_LOGIN_OIDC_ALLOWED_RETURN_HOSTS": "app.example.com, .corp.example, 127.0.0.1:8080",
        "FACE_LOGIN_OIDC_COOKIE_DOMAIN": ".example.com",
    }
    return create_app({"TESTING": True, **NO_LIMITS}, env=env, accounts=stub)


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/oauth/authorize?client_id=x", True),
        ("https://app.example.com/reports?a=1&b=2", True),
        ("http://app.example.com:8443/", True),
        ("https://wiki.corp.example/page", True),
        ("http://127.0.0.1:8080/", True),
        ("http://localhost/account", True),  # this service's own host
        ("http://127.0.0.1:9090/", False),
        ("https://evil.example/", False),
        ("https://app.example.com.evil.example/", False),
        ("//evil.example/x", False),
        ("/\\evil.example", False),
        ("https://app.example.com@evil.example/", False),
        ("javascript:alert(1)", False),
        ("https://app.example.com:99999/", False),
        ("", False),
    ],
)
def test_the_login_page_returns_only_to_allowed_hosts(app, target, kept):
    page = app.test_client().get("/login", query_string={"return": target}).get_data(as_text=True)
    expected = target.replace("&", "&amp;") if kept else ""
    assert f'data-return="{expected}"' in page


def test_forward_auth_answers_with_the_user_or_401(app):
    browser = app.test_client()
    here = "http://login.example.com"
    r = browser.get(
        "/auth/verify", base_url=here, headers={"X-Original-URL": "https://app.example.com/x?y=1"}
    )
    assert r.status_code == 401 and r.json["error"] == "not_logged_in"
    assert r.headers["Location"] == (
        f"{here}/login?return=https%3A%2F%2Fapp.example.com%2Fx%3Fy%3D1"
    )
    r = browser.get("/auth/verify", base_url=here, headers={"X-Original-URL": "https://evil.x/"})
    assert r.headers["Location"] == f"{here}/login"
    image = [(io.BytesIO(b"the stub does not decode"), "f.jpg")]
    login = post_form(browser, f"{here}/api/login", {"image": image})
    assert login.status_code == 200
    # One login for the sibling sub-domains ([oidc] cookie_domain = .example.com).
    assert "Domain=example.com" in login.headers["Set-Cookie"]
    r = browser.get("/auth/verify", base_url="http://app.example.com")
    assert r.status_code == 200 and r.headers["X-Face-Login-User"] == "ada"
    # A logged-in person asked back to an allowed address goes there at once.
    r = browser.get("/login", base_url=here, query_string={"return": "https://app.example.com/x"})
    assert r.status_code == 302 and r.headers["Location"] == "https://app.example.com/x"


def test_admin_api_registers_lists_and_removes_clients(app):
    client = app.test_client()
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert client.post("/api/admin/oidc/clients", json={}).status_code == 401
    r = client.post(
        "/api/admin/oidc/clients",
        json={"name": "Grafana", "client_id": "grafana", "redirect_uris": [CB]},
        headers=auth,
    )
    assert r.status_code == 201 and r.json["client_secret"]
    r = client.post(
        "/api/admin/oidc/clients", json={"name": "G", "redirect_uris": "ftp://x"}, headers=auth
    )
    assert r.status_code == 400 and r.json["error"] == "invalid_client_metadata"
    r = client.post("/api/admin/oidc/clients", json={"name": "G", "public": "yes"}, headers=auth)
    assert r.status_code == 400 and r.json["error"] == "bad_request"
    listed = client.get("/api/admin/oidc/clients", headers=auth).json["clients"]
    assert [c["client_id"] for c in listed] == ["grafana"] and "secret_hash" not in listed[0]
    assert client.delete("/api/admin/oidc/clients/grafana", headers=auth).status_code == 200
    r = client.delete("/api/admin/oidc/clients/grafana", headers=auth)
    assert r.status_code == 404 and r.json["error"] == "unknown_client"


def test_authorize_refuses_unknown_clients_here(app):
    r = app.test_client().get(
        "/oauth/authorize",
        query_string={"response_type": "code", "client_id": "nobody", "scope": "openid"},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 400 and r.json["error"] == "invalid_client"
    assert "Location" not in r.headers


def test_discovery_and_jwks(app):
    client = app.test_client()
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["issuer"] == "http://localhost" and meta["jwks_uri"].endswith("/oauth/jwks")
    keys = client.get("/oauth/jwks").json["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and "d" not in keys[0]
