"""The JSON API with the Flask test client and the real models on real photos."""

from __future__ import annotations

import io
import re
import time

import cv2
import numpy as np
import pytest

from tests.helpers import BIDEN, blank_jpeg, post_form
from tests.postgres import lmdb_only, on_postgres

pytestmark = pytest.mark.integration

from tests.helpers import OBAMA  # noqa: E402


def test_register_obama_and_log_in_with_a_third_photo(auth, client):
    r = auth.register("obama", OBAMA[0], OBAMA[1])
    assert r.status_code == 201, r.json
    assert r.json["username"] == "obama" and r.json["faces"] == 2
    r = auth.login(OBAMA[2], client=client)
    assert r.status_code == 200, r.json
    assert r.json["ok"] is True and r.json["username"] == "obama"
    assert 0 <= r.json["distance"] < 0.85
    me = client.get("/api/me")
    assert me.status_code == 200 and me.json["username"] == "obama"
    assert me.json["last_login"] is not None


def test_biden_is_not_recognised(auth):
    auth.register("obama", OBAMA[0], OBAMA[1])
    r = auth.login("people/joe_biden/1.jpg")
    assert r.status_code == 401
    assert r.json == {"ok": False, "error": "not_recognized", "detail": r.json["detail"]}


def rebuild_and_wait(auth) -> dict:
    """The admin rebuild is a background job: 202 at once, then its status until done."""
    r = auth.admin("POST", "/api/admin/rebuild-index")
    assert r.status_code == 202 and r.json["state"] in ("running", "done"), r.json
    for _ in range(600):
        status = auth.admin("GET", "/api/admin/rebuild-index").json
        if status["state"] != "running":
            break
        time.sleep(0.05)
    assert status["state"] == "done", status
    return status


def test_new_user_logs_in_before_any_rebuild(auth, app):
    auth.register("kate", "people/kate_siegel/1.jpg")
    rebuild_and_wait(auth)
    r = auth.register("rose", "people/rose_leslie/1.jpg")
    assert r.status_code == 201
    accounts = app.extensions["face_login"]
    # LMDB's index searches faces added since its build exactly; pgvector's index has them.
    assert accounts.index.fresh_count() == (0 if on_postgres() else 1)
    r = auth.login("people/rose_leslie/2.jpg")
    assert r.status_code == 200 and r.json["username"] == "rose"


def test_second_account_with_the_same_face_is_refused(auth):
    assert auth.register("obama", OBAMA[0]).status_code == 201
    r = auth.register("barack2", OBAMA[2])
    assert r.status_code == 409 and r.json["error"] == "face_already_registered"


def test_username_taken_case_insensitive(auth):
    assert auth.register("Obama", OBAMA[0]).status_code == 201
    r = auth.register("OBAMA", "people/joe_biden/1.jpg")
    assert r.status_code == 409 and r.json["error"] == "username_taken"


def test_one_to_one_login_with_username(auth):
    auth.register("obama", OBAMA[0])
    auth.register("biden", "people/joe_biden/1.jpg")
    assert auth.login(OBAMA[2], username="OBAMA").json["username"] == "obama"
    assert auth.login(OBAMA[2], username="biden").status_code == 401
    assert auth.login(OBAMA[2], username="nobody").json["error"] == "not_recognized"


def test_registration_of_two_different_people_refused(auth):
    r = auth.register("mixed", OBAMA[0], "people/joe_biden/1.jpg")
    assert r.status_code == 422 and r.json["error"] == "faces_differ"


def test_login_skips_frames_without_a_face(auth, app, photo):
    auth.register("obama", OBAMA[0])
    blank = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()
    r = post_form(
        app.test_client(),
        "/api/login",
        {"image": [(io.BytesIO(blank), "blank.jpg"), (io.BytesIO(photo(OBAMA[1])), "o.jpg")]},
    )
    assert r.status_code == 200 and r.json["username"] == "obama"


@pytest.mark.parametrize(
    "url,data,status,code",
    [
        ("/api/register", {"username": "x"}, 400, "no_image"),
        ("/api/register", {"image": "FILE:people/barack_obama/1.jpg"}, 400, "invalid_username"),
        ("/api/register", {"username": "x", "image": "EMPTY"}, 400, "empty_image"),
        ("/api/register", {"username": "x", "image": "TEXT"}, 422, "bad_image"),
        ("/api/register", {"username": "x", "image": "TRUNCATED"}, 422, "bad_image"),
        (
            "/api/register",
            {"username": "x", "image": "FILE:group/two_people.jpg"},
            422,
            "multiple_faces",
        ),
        ("/api/register", {"username": "x", "image": "BLANK"}, 422, "no_face"),
        (
            "/api/register",
            {"username": "<script>alert(1)</script>", "image": "FILE:people/barack_obama/1.jpg"},
            400,
            "invalid_username",
        ),
        (
            "/api/register",
            {"username": "a" * 300, "image": "FILE:people/barack_obama/1.jpg"},
            400,
            "invalid_username",
        ),
        ("/api/register", {"username": "x", "image": "SIX"}, 400, "too_many_images"),
        ("/api/login", {}, 400, "no_image"),
        ("/api/login", {"image": "TEXT"}, 422, "bad_image"),
        ("/api/login", {"image": "BLANK"}, 422, "no_face"),
        ("/api/login", {"image": "FILE:group/two_people.jpg"}, 422, "multiple_faces"),
        ("/api/preview", {"image": "TEXT"}, 422, "bad_image"),
    ],
)
def test_bad_input_gets_its_code(app, photo, url, data, status, code):
    form = {}
    for name, value in data.items():
        if name != "image":
            form[name] = value
            continue
        if value.startswith("FILE:"):
            form["image"] = [(io.BytesIO(photo(value[5:])), "a.jpg")]
        elif value == "EMPTY":
            form["image"] = [(io.BytesIO(b""), "a.jpg")]
        elif value == "TEXT":
            form["image"] = [(io.BytesIO(b"hello, I am not a picture"), "a.jpg")]
        elif value == "TRUNCATED":
            raw = photo("people/barack_obama/1.jpg")
            form["image"] = [(io.BytesIO(raw[: len(raw) // 3]), "a.jpg")]
        elif value == "BLANK":
            form["image"] = [(io.BytesIO(blank_jpeg()), "a.jpg")]
        elif value == "SIX":
            form["image"] = [(io.BytesIO(blank_jpeg()), f"{i}.jpg") for i in range(6)]
    r = post_form(app.test_client(), url, form)
    assert r.status_code == status, r.json
    assert r.is_json and r.json["error"] == code and r.json["detail"]
    if code == "bad_image" and url == "/api/login":
        assert r.json["ok"] is False


def test_huge_upload_is_413(app):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    big = io.BytesIO(b"\xff" * (2 * 1024 * 1024))
    r = post_form(app.test_client(), "/api/login", {"image": [(big, "big.jpg")]})
    assert r.status_code == 413 and r.json["error"] == "too_large"


def test_json_errors_for_unknown_routes_and_methods(client):
    assert client.get("/api/nope").json["error"] == "not_found"
    assert client.get("/api/login").status_code == 405
    assert client.get("/api/login").json["error"] == "method_not_allowed"


def test_admin_endpoints_refuse_missing_and_wrong_tokens(auth):
    for method, url in [
        ("POST", "/api/admin/rebuild-index"),
        ("GET", "/api/admin/users"),
        ("GET", "/api/admin/stats"),
        ("DELETE", "/api/admin/users/obama"),
    ]:
        missing = auth.admin(method, url, token=None)
        assert missing.status_code == 401 and missing.json["error"] == "admin_token_required"
        wrong = auth.admin(method, url, token="nope")
        assert wrong.status_code == 403 and wrong.json["error"] == "admin_token_invalid"


def test_admin_rebuild_users_and_delete(auth):
    auth.register("obama", OBAMA[0], OBAMA[1])
    auth.register("biden", "people/joe_biden/1.jpg")
    status = rebuild_and_wait(auth)
    assert status["faces"] == 3 and status["version"] >= 1 and status["seconds"] >= 0
    users = auth.admin("GET", "/api/admin/users").json["users"]
    assert {u["username"]: u["faces"] for u in users} == {"obama": 2, "biden": 1}
    assert auth.admin("DELETE", "/api/admin/users/OBAMA").status_code == 200
    assert auth.admin("DELETE", "/api/admin/users/obama").status_code == 404
    assert auth.login(OBAMA[2]).status_code == 401  # deleted before any rebuild
    stats = auth.admin("GET", "/api/admin/stats").json
    assert stats["users"] == 1 and stats["faces"] == 1


def test_admin_disabled_without_a_token(tmp_path, engine):
    from app import create_app

    app = create_app({"TESTING": True}, env={"FACE_LOGIN_DATA": str(tmp_path)}, engine=engine)
    r = app.test_client().get("/api/admin/users", headers={"Authorization": "Bearer x"})
    assert r.status_code == 403 and r.json["error"] == "admin_disabled"


def csrf_of(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_csrf_required_when_the_session_cookie_is_sent(auth, app):
    auth.register("obama", OBAMA[0])
    browser = app.test_client()
    token = csrf_of(browser)  # the page visit sets the session cookie
    files = auth.files(OBAMA[1])
    r = post_form(browser, "/api/login", {"image": files})
    assert r.status_code == 403 and r.json["error"] == "csrf_failed"
    r = post_form(browser, "/api/login", {"image": auth.files(OBAMA[1])}, {"X-CSRF-Token": token})
    assert r.status_code == 200
    assert browser.delete("/api/me").status_code == 403
    evil = browser.post(
        "/api/logout", headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    assert browser.post("/api/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert browser.get("/api/me").status_code == 401


def test_delete_my_account(auth, app):
    browser = app.test_client()
    r = auth.register("obama", OBAMA[0], client=browser)
    assert r.status_code == 201
    token = csrf_of(browser)
    assert browser.delete("/api/me", headers={"X-CSRF-Token": token}).json == {"deleted": "obama"}
    assert browser.get("/api/me").status_code == 401
    assert auth.login(OBAMA[1]).status_code == 401


def test_session_cookie_flags(auth, app):
    r = auth.register("obama", OBAMA[0])
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_login_rate_limited(auth, app):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    codes = []
    for _ in range(5):
        r = post_form(
            app.test_client(), "/api/login", {"image": [(io.BytesIO(blank_jpeg()), "b.jpg")]}
        )
        codes.append(r.status_code)
    assert codes[:3] == [422, 422, 422] and codes[3:] == [429, 429]
    assert r.json["error"] == "rate_limited" and "Retry-After" in r.headers


def test_healthz_says_up_and_nothing_more(auth, client):
    """Counts and the worker pid are the admin's (/api/admin/stats), not everyone's."""
    auth.register("obama", OBAMA[0], OBAMA[1])
    assert client.get("/healthz").json == {"status": "ok"}
    stats = auth.admin("GET", "/api/admin/stats").json
    assert stats["users"] == 1 and stats["faces"] == 2 and "index_version" in stats
    assert stats["worker"] > 0


@lmdb_only
def test_no_rebuild_on_a_read_path(auth, app, client):
    """The attack: delete the index, then keep asking. Reads never rebuild: logins are
    answered by an exact scan while a single rebuild runs in a background thread."""
    import shutil
    import threading

    auth.register("obama", OBAMA[0], OBAMA[1])
    rebuild_and_wait(auth)
    accounts = app.extensions["face_login"]
    shutil.rmtree(accounts.index.dir)
    builds = []
    original = accounts.index._build_and_switch

    def counted(versions):
        builds.append(threading.current_thread().name)
        return original(versions)

    accounts.index._build_and_switch = counted
    for _ in range(4):
        assert client.get("/healthz").status_code == 200
        r = auth.login(OBAMA[2])
        assert r.status_code == 200 and r.json["username"] == "obama"
        assert auth.admin("GET", "/api/admin/stats").json["users"] == 1
    accounts.index.wait_for_rebuild(timeout=60)
    assert builds == ["index-rebuild"]


def test_preview_reports_faces(app, photo):
    r = post_form(
        app.test_client(),
        "/api/preview",
        {"image": [(io.BytesIO(photo("group/two_people.jpg")), "g.jpg")]},
    )
    assert r.status_code == 200 and len(r.json["faces"]) == 2 and r.json["width"] == 1126


def test_pages_render_and_escape(auth, app):
    browser = app.test_client()
    for url in ("/login", "/register", "/admin"):
        page = browser.get(url)
        assert page.status_code == 200 and b'name="csrf-token"' in page.data
    assert browser.get("/account").status_code == 302
    fresh = app.test_client()
    auth.register("obama", OBAMA[0], client=fresh)
    assert fresh.get("/account").status_code == 200
    missing = browser.get("/nope", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and b"<h1>404</h1>" in missing.data
    assert missing.content_type.startswith("text/html")


def test_templates_never_mark_text_safe():
    """Jinja escapes everything it prints; no template may switch that off, and the pages'
    scripts put names into the page as text, never as HTML."""
    from tests.helpers import ROOT

    for template in (ROOT / "templates").glob("*.html"):
        text = template.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, template
    for script in (ROOT / "static" / "js").glob("*.js"):
        assert "innerHTML" not in script.read_text(), script


def test_a_40_megapixel_preview_is_refused_from_its_header(app):
    """The attack: 40-megapixel JPEGs (small files) sent as camera frames, each costing
    seconds of decoding. Frames have a lower pixel limit, checked before any pixel is
    decoded."""
    gradient = np.tile(np.linspace(0, 255, 7300, dtype=np.uint8), (5480, 1))
    huge = cv2.imencode(".jpg", cv2.merge([gradient] * 3), [cv2.IMWRITE_JPEG_QUALITY, 50])[1]
    form = {"image": [(io.BytesIO(huge.tobytes()), "huge.jpg")]}
    r = post_form(app.test_client(), "/api/preview", form)
    assert r.status_code == 422 and r.json["error"] == "bad_image"
    assert "limit for webcam frames" in r.json["detail"]
    r = post_form(
        app.test_client(), "/api/login", {"image": [(io.BytesIO(huge.tobytes()), "h.jpg")]}
    )
    assert r.status_code == 422 and r.json["error"] == "bad_image"


def test_audit_log_records_attempts_never_faces(auth, app):
    assert auth.register("obama", OBAMA[0], OBAMA[1]).status_code == 201
    assert auth.login(BIDEN).status_code == 401
    assert auth.login(OBAMA[2]).status_code == 200
    assert auth.login("group/two_people.jpg").status_code == 422
    r = auth.admin("GET", "/api/admin/audit?limit=3")
    entries = r.json["entries"]
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("login", "multiple_faces"),
        ("login", "ok"),
        ("login", "not_recognized"),
    ]
    ok = entries[1]
    threshold = app.extensions["face_login"].engine.threshold
    assert ok["user"] == "obama" and 0 <= ok["distance"] < threshold and ok["client"] == "127.0.0.1"
    assert set(ok) == {"id", "time", "client", "action", "outcome", "user", "distance"}
    assert r.json["failures_by_address"] == {"127.0.0.1": 2}
    older = auth.admin("GET", f"/api/admin/audit?before={r.json['next_before']}").json
    assert [(e["action"], e["outcome"], e["user"]) for e in older["entries"]] == [
        ("register", "ok", "obama")
    ]
    assert auth.admin("GET", "/api/admin/audit?limit=0").status_code == 400


def test_audit_log_keeps_its_retention_limit(tmp_path, engine):
    from face_engine.config import StoreConfig
    from tests.stores import open_test_store

    store = open_test_store(tmp_path / "lmdb", StoreConfig(audit_max_entries=10, audit_days=1))
    log = store.audit
    for i in range(30):
        log.append({"time": 1000.0 + i, "n": i})
    assert [e["n"] for e in log.entries(100)] == list(range(29, 19, -1))
    log.append({"time": 1030.0 + 86400, "n": 30})  # a day after the newest: the rest go
    assert [e["n"] for e in log.entries(100)] == [30]
    store.close()


def test_two_racing_registrations_of_one_face_give_one_account(app, photo):
    """The attack: the same face registered under two usernames at the same moment. Both
    requests are held right after their duplicate check (both find no such face yet) and let
    go together: the check repeated inside the write transaction, which LMDB runs one at a
    time across threads and processes, refuses the second."""
    import threading

    from app.services import get_accounts

    accounts = get_accounts(app)
    checked = threading.Barrier(2)
    is_registered = accounts.matcher.is_registered

    def check_then_wait(vector, within):
        answer = is_registered(vector, within)
        checked.wait(timeout=60)  # both requests have checked before either writes
        return answer

    accounts.matcher.is_registered = check_then_wait
    results: dict[str, str] = {}

    def register(name: str) -> None:
        try:
            accounts.register(name, [photo(OBAMA[0])])
            results[name] = "ok"
        except Exception as e:  # noqa: BLE001 - the error code is what is compared
            results[name] = getattr(e, "code", repr(e))

    threads = [threading.Thread(target=register, args=(name,)) for name in ("ada", "eve")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results.values()) == ["face_already_registered", "ok"], results
    assert len(accounts.users()) == 1
