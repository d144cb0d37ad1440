"""The web layer alone, on a stub of Accounts: CSRF, admin tokens, error mapping, routing.

No models load here (``create_app(accounts=...)``), so this runs in ``make test-fast``.
"""

from __future__ import annotations

import io
import logging
import re

import pytest

from face_engine import FaceEngineError, NotRecognized
from tests.helpers import ADMIN_TOKEN, NO_LIMITS, StubAccounts, post_form


@pytest.fixture
def stub() -> StubAccounts:
    return StubAccounts()


@pytest.fixture
def app(tmp_path, stub):
    from app import create_app

    env = {"FACE_LOGIN_DATA": str(tmp_path), "FACE_LOGIN_ADMIN_TOKEN": ADMIN_TOKEN}
    return create_app({"TESTING": True, **NO_LIMITS}, env=env, accounts=stub)


def image() -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(b"any bytes: the stub does not decode"), "f.jpg")]


def csrf_of(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_login_answers_ok_and_sets_the_session(app):
    browser = app.test_client()
    r = post_form(browser, "/api/login", {"image": image()})
    assert r.status_code == 200 and r.json["ok"] is True and r.json["username"] == "ada"
    assert browser.get("/api/me").json["username"] == "ada"


def test_engine_errors_map_by_class(app, stub):
    stub.fail_with = NotRecognized()
    r = post_form(app.test_client(), "/api/login", {"image": image()})
    assert r.status_code == 401
    assert r.json == {"ok": False, "error": "not_recognized", "detail": NotRecognized.message}


def test_an_unmapped_engine_error_is_a_logged_500(app, stub, caplog):
    class Surprise(FaceEngineError):
        code = "surprise"

    stub.fail_with = Surprise("nobody mapped this")
    with caplog.at_level(logging.ERROR):
        r = post_form(app.test_client(), "/api/login", {"image": image()})
    assert r.status_code == 500 and r.json["error"] == "internal_error"
    assert "Surprise" in caplog.text


def test_csrf_needed_once_the_cookie_is_sent(app):
    browser = app.test_client()
    token = csrf_of(browser)
    assert post_form(browser, "/api/login", {"image": image()}).status_code == 403
    ok = post_form(browser, "/api/login", {"image": image()}, {"X-CSRF-Token": token})
    assert ok.status_code == 200
    evil = browser.post(
        "/api/logout", headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
    )
    assert evil.status_code == 403 and evil.json["error"] == "csrf_failed"


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        (None, 401, "admin_token_required"),
        ("Bearer wrong", 403, "admin_token_invalid"),
        ("Basic " + ADMIN_TOKEN, 401, "admin_token_required"),
    ],
)
def test_admin_refuses_missing_and_wrong_tokens(app, header, status, code):
    headers = {"Authorization": header} if header else {}
    r = app.test_client().get("/api/admin/users", headers=headers)
    assert r.status_code == status and r.json["error"] == code


def test_admin_lists_and_deletes(app, stub):
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    users = app.test_client().get("/api/admin/users", headers=auth).json["users"]
    assert users == [
        {
            "user_id": 1,
            "username": "ada",
            "created": 0.0,
            "last_login": None,
            "previous_login": None,
            "faces": 2,
        }
    ]
    assert app.test_client().delete("/api/admin/users/ada", headers=auth).status_code == 200
    assert stub.deleted == [1]
    missing = app.test_client().delete("/api/admin/users/bob", headers=auth)
    assert missing.status_code == 404 and missing.json["error"] == "unknown_user"


def test_admin_disabled_without_a_token(tmp_path, stub):
    from app import create_app

    app = create_app({"TESTING": True}, env={"FACE_LOGIN_DATA": str(tmp_path)}, accounts=stub)
    r = app.test_client().get("/api/admin/users", headers={"Authorization": "Bearer x"})
    assert r.status_code == 403 and r.json["error"] == "admin_disabled"


def test_unknown_routes_and_methods_answer_json(app):
    client = app.test_client()
    assert client.get("/api/nope").json["error"] == "not_found"
    assert client.get("/api/login").status_code == 405
    assert client.get("/api/login").json["error"] == "method_not_allowed"


def test_pages_render(app):
    browser = app.test_client()
    for url in ("/login", "/register", "/admin"):
        page = browser.get(url)
        assert page.status_code == 200 and b'name="csrf-token"' in page.data
    assert browser.get("/account").status_code == 302


def test_admin_token_guessing_is_answered_429_after_the_limit(tmp_path, stub):
    """The attack: wrong tokens as fast as possible. Failures are counted per client before
    the token is checked, so after the limit even the right token waits."""
    from app import create_app

    env = {"FACE_LOGIN_DATA": str(tmp_path), "FACE_LOGIN_ADMIN_TOKEN": ADMIN_TOKEN}
    config = {"TESTING": True, "ADMIN_FAILURE_LIMIT": "5 per minute"}
    app = create_app(config, env=env, accounts=stub)
    client = app.test_client()
    codes = [
        client.get("/api/admin/users", headers={"Authorization": f"Bearer guess{i}"}).status_code
        for i in range(30)
    ]
    assert codes[:5] == [403] * 5 and set(codes[5:]) == {429}
    right = client.get("/api/admin/users", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert right.status_code == 429 and right.json["error"] == "rate_limited"


def test_right_admin_tokens_are_not_counted_as_failures(app):
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    client = app.test_client()
    assert all(client.get("/api/admin/stats", headers=auth).status_code == 200 for _ in range(30))


def test_a_cookie_copied_before_logout_is_refused_after_it(app):
    """The attack: copy the session cookie, let the user log out, replay the copy."""
    browser = app.test_client()
    token = csrf_of(browser)
    post_form(browser, "/api/login", {"image": image()}, {"X-CSRF-Token": token})
    copied = browser.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/api/me").status_code == 200
    assert browser.post("/api/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert thief.get("/api/me").status_code == 401
    assert browser.get("/api/me").status_code == 401


def test_challenge_is_issued_to_the_asking_client(app, stub):
    r = app.test_client().post("/api/challenge")
    assert r.status_code == 200 and r.json["steps"] == ["left", "right"]
    assert r.json["challenge"] and 0 < r.json["expires_in"] <= 60
    assert stub.challenges == ["127.0.0.1"]


def test_a_challenge_login_may_carry_up_to_max_frames(app):
    frames = [(io.BytesIO(b"frame"), f"{i}.jpg") for i in range(60)]
    ok = post_form(app.test_client(), "/api/login", {"challenge": "c1", "image": frames})
    assert ok.status_code == 200
    frames = [(io.BytesIO(b"frame"), f"{i}.jpg") for i in range(61)]
    too_many = post_form(app.test_client(), "/api/login", {"challenge": "c1", "image": frames})
    assert too_many.status_code == 400 and too_many.json["error"] == "too_many_images"
    six = [(io.BytesIO(b"frame"), f"{i}.jpg") for i in range(6)]
    plain = post_form(app.test_client(), "/api/login", {"image": six})
    assert plain.status_code == 400 and plain.json["error"] == "too_many_images"


def test_a_missing_challenge_is_said_before_the_frame_count(app, stub):
    stub.challenge_needed = True
    frames = [(io.BytesIO(b"frame"), f"{i}.jpg") for i in range(20)]
    r = post_form(app.test_client(), "/api/login", {"image": frames})
    assert r.status_code == 400 and r.json["error"] == "challenge_required", r.json
    r = post_form(app.test_client(), "/api/register", {"image": frames})
    assert r.status_code == 400 and r.json["error"] == "challenge_required", r.json


def test_pages_show_who_is_signed_in(app):
    browser = app.test_client()
    token = csrf_of(browser)
    assert b"ada" not in browser.get("/login").data
    post_form(browser, "/api/login", {"image": image()}, {"X-CSRF-Token": token})
    assert browser.get("/account").status_code == 200


def test_every_answer_carries_the_security_headers(app):
    client = app.test_client()
    for response in (client.get("/login"), client.get("/api/nope"), client.get("/healthz")):
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_healthz_tells_nothing_but_up(app):
    assert app.test_client().get("/healthz").json == {"status": "ok"}


def test_the_data_directory_is_private(tmp_path, stub):
    """Biometric data: the data folder 0700 and its files 0600, even ones left world-readable
    by an earlier version."""
    import os
    import stat

    from app import create_app

    data = tmp_path / "data"
    (data / "lmdb").mkdir(parents=True)
    old = data / "lmdb" / "data.mdb"
    old.write_bytes(b"")
    os.chmod(data, 0o755)
    os.chmod(old, 0o644)
    create_app({"TESTING": True}, env={"FACE_LOGIN_DATA": str(data)}, accounts=stub)
    for path in (data, data / "lmdb"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in (old, data / "secret_key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_secret_key_is_never_read_half_written(tmp_path):
    """Processes starting together all get the same, complete key."""
    import concurrent.futures

    from app.security import secret_key

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: secret_key("", None, tmp_path), range(32)))
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
