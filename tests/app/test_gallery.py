"""1:N decisions that know the gallery, through the API on real photos and a real LMDB.

The stranger is Kate Siegel's photo; the enrolled user is Angelina Jolie's: dlib puts them
0.40 apart, the closest different-person pair of the test photos. The service here runs dlib
(the feature is the same for every model; this pair is dlib's closest) with a 1:1 threshold of
0.45 (so this look-alike is within 1:1) and a false-identification target of 1%. With one
enrolled face, the 1:N threshold follows that target and the stranger is (wrongly, as any 1:N
system at that setting would) taken for the user; with 10,000 synthetic faces enrolled
besides, the threshold tightens and the login asks for a username.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import ADMIN_TOKEN, NO_LIMITS, FaceAuthActions, post_form

pytestmark = [pytest.mark.integration]
USER = "people/angelina_jolie/1.jpg"
STRANGER = "people/kate_siegel/1.jpg"


@pytest.fixture
def gallery_app(tmp_path, dlib_engine):
    from app import create_app

    env = {
        "FACE_LOGIN_DATA": str(tmp_path / "data"),
        "FACE_LOGIN_ADMIN_TOKEN": ADMIN_TOKEN,
        "FACE_LOGIN_LIVENESS_LOGIN": "false",
        "FACE_LOGIN_LIVENESS_REGISTER": "false",
        "FACE_LOGIN_EMBEDDER_MODEL": "dlib",
        "FACE_LOGIN_DLIB_THRESHOLD": "0.45",
        "FACE_LOGIN_MATCHING_MAX_FALSE_IDENTIFICATION": "0.01",
    }
    application = create_app({"TESTING": True, **NO_LIMITS}, env=env, engine=dlib_engine)
    yield application
    application.extensions["face_login"].store.close()


def enrol_synthetic(app, faces: int) -> None:
    """``faces`` random unit vectors of the service's model, in 100 users: nobody's face,
    but they count as enrolled faces."""
    from app.services import get_accounts

    accounts = get_accounts(app)
    rng = np.random.default_rng(7)
    for user in range(100):
        vectors = rng.standard_normal((faces // 100, accounts.engine.identity.dim))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        accounts.store.users.create_user(
            f"synthetic-{user}",
            [(v.astype(np.float32), 1.0) for v in vectors],
            accounts.engine.identity,
        )


def stats(auth):
    return auth.admin("GET", "/api/admin/stats").json


def test_a_look_alike_is_taken_in_a_small_gallery(gallery_app, photo):
    auth = FaceAuthActions(gallery_app, photo)
    assert auth.register("angelina", USER).status_code == 201
    figures = stats(auth)
    assert figures["enrolled_faces"] == 1
    assert 0.40 < figures["one_to_n_threshold"] <= figures["one_to_one_threshold"] == 0.45
    r = auth.login(STRANGER)
    assert r.status_code == 200 and r.json["username"] == "angelina"


def test_a_look_alike_must_type_a_username_in_a_large_gallery(gallery_app, photo):
    auth = FaceAuthActions(gallery_app, photo)
    assert auth.register("angelina", USER).status_code == 201
    assert auth.register("obama", "people/barack_obama/1.jpg").status_code == 201
    enrol_synthetic(gallery_app, 10_000)
    figures = stats(auth)
    assert figures["enrolled_faces"] == 10_002
    assert figures["one_to_n_threshold"] < 0.40 < figures["one_to_one_threshold"]
    assert figures["false_identification"] <= 0.01
    assert 0.0 <= figures["tar_at_threshold"] <= 1.0

    client = gallery_app.test_client()
    r = auth.login(STRANGER, client=client)
    assert r.status_code == 401 and r.json["error"] == "username_required", r.json
    pending = r.json["pending"]
    assert r.json["expires_in"] > 0

    # The right username finishes on the same frames (no new photo is sent) and logs in.
    r = post_form(client, "/api/login", {"pending": pending, "username": "angelina"})
    assert r.status_code == 200 and r.json["username"] == "angelina", r.json
    assert client.get("/api/me").json["username"] == "angelina"
    # The pending login is single-use.
    client = gallery_app.test_client()
    r = post_form(client, "/api/login", {"pending": pending, "username": "angelina"})
    assert r.status_code == 400 and r.json["error"] == "pending_login_invalid"

    # A wrong username fails, and uses the pending login up.
    r = auth.login(STRANGER, client=client)
    pending = r.json["pending"]
    r = post_form(client, "/api/login", {"pending": pending, "username": "obama"})
    assert r.status_code == 401 and r.json["error"] == "not_recognized"
    r = post_form(client, "/api/login", {"pending": pending, "username": "angelina"})
    assert r.status_code == 400 and r.json["error"] == "pending_login_invalid"


def test_a_pending_login_is_bound_to_its_client(gallery_app, photo):
    auth = FaceAuthActions(gallery_app, photo)
    assert auth.register("angelina", USER).status_code == 201
    enrol_synthetic(gallery_app, 10_000)
    pending = auth.login(STRANGER).json["pending"]
    other = gallery_app.test_client()
    r = post_form(
        other,
        "/api/login",
        {"pending": pending, "username": "angelina"},
        headers=None,
    )
    assert r.status_code == 200  # same address in the test client: allowed
    pending = auth.login(STRANGER).json["pending"]
    r = gallery_app.test_client().post(
        "/api/login",
        data={"pending": pending, "username": "angelina"},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert r.status_code == 400 and r.json["error"] == "pending_login_invalid"
