"""Moving to another model without losing users, end to end on real photos and a real LMDB:
users enrolled with dlib (the old default) log in while the service runs SFace (the new one)
with ``[embedder] migrate_from = dlib`` (dlib decides), each gains SFace faces at that login,
the admin stats count them, ``drop-old-faces`` drops dlib's faces, and the service restarts on
SFace alone.
The same path serves any pair of models (load_embedder by name)."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest

from face_engine import ModelMismatch
from tests.helpers import ADMIN_TOKEN, BIDEN, NO_LIMITS, OBAMA, FaceAuthActions, post_form

pytestmark = [pytest.mark.integration]


def webcam_copy(photo, name: str) -> bytes:
    """A registered photo as a webcam would give it again: smaller and re-encoded."""
    image = cv2.imdecode(np.frombuffer(photo(name), np.uint8), cv2.IMREAD_COLOR)
    small = cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def service(data, engine, **env):
    from app import create_app

    base = {
        "FACE_LOGIN_DATA": str(data),
        "FACE_LOGIN_ADMIN_TOKEN": ADMIN_TOKEN,
        "FACE_LOGIN_LIVENESS_LOGIN": "false",
        "FACE_LOGIN_LIVENESS_REGISTER": "false",
    }
    return create_app({"TESTING": True, **NO_LIMITS}, env={**base, **env}, engine=engine)


def log_in(app, photo, name: str):
    frame = [(io.BytesIO(webcam_copy(photo, name)), "frame.jpg")]
    return post_form(app.test_client(), "/api/login", {"image": frame})


def close(app) -> None:
    """Close the service's store once its background rebuild (started by a registration) has
    ended: that thread records its end in the store, which would open LMDB again in this
    process, and the next service on the folder could not open it."""
    accounts = app.extensions["face_login"]
    accounts.index.wait_for_rebuild(timeout=120)
    if accounts.migration is not None:
        accounts.migration.matcher.search.wait_for_rebuild(timeout=120)
    accounts.store.close()


def drop_old_faces(data, monkeypatch, capsys, *extra: str) -> tuple[int, dict]:
    from face_engine.cli import main

    monkeypatch.setenv("FACE_LOGIN_DATA", str(data))
    monkeypatch.setenv("FACE_LOGIN_EMBEDDER_MODEL", "sface")
    monkeypatch.setenv("FACE_LOGIN_EMBEDDER_MIGRATE_FROM", "dlib")
    capsys.readouterr()
    code = main(["drop-old-faces", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_dlib_users_move_to_sface_as_they_log_in(
    tmp_path, engine, dlib_engine, photo, monkeypatch, capsys
):
    data = tmp_path / "data"
    app = service(data, dlib_engine, FACE_LOGIN_EMBEDDER_MODEL="dlib")
    auth = FaceAuthActions(app, photo)
    assert auth.register("obama", OBAMA[0]).status_code == 201
    assert auth.register("biden", BIDEN).status_code == 201
    close(app)

    # Without the opt-in, a SFace service refuses the dlib store, and says how to move.
    with pytest.raises(ModelMismatch, match="migrate_from = dlib"):
        service(data, engine, FACE_LOGIN_EMBEDDER_MODEL="sface")

    migrating = {
        "FACE_LOGIN_EMBEDDER_MODEL": "sface",
        "FACE_LOGIN_EMBEDDER_MIGRATE_FROM": "dlib",
    }
    app = service(data, engine, **migrating)
    auth = FaceAuthActions(app, photo)
    stats = auth.admin("GET", "/api/admin/stats").json
    assert stats["migration"] == {"from": "dlib", "to": "sface", "migrated_users": 0}
    r = log_in(app, photo, OBAMA[0])
    assert r.status_code == 200 and r.json["username"] == "obama", r.json
    accounts = app.extensions["face_login"]
    names = {ref: m.name for ref, m in accounts.store.faces.models().items()}
    faces = sorted(names[f.model_ref] for f in accounts.store.faces.faces_of(r.json["user_id"]))
    assert faces == ["dlib", "sface"]
    assert auth.admin("GET", "/api/admin/stats").json["migration"]["migrated_users"] == 1
    # A second login decides with dlib again and adds nothing more.
    assert log_in(app, photo, OBAMA[0]).status_code == 200
    assert len(accounts.store.faces.faces_of(r.json["user_id"])) == 2
    # A stranger is still refused.
    stranger = post_form(
        app.test_client(), "/api/login", {"image": auth.files("people/paul_rudd/1.jpg")}
    )
    assert stranger.status_code == 401 and stranger.json["error"] == "not_recognized"
    close(app)

    # Biden has not logged in: dropping dlib's faces now would lock him out.
    code, answer = drop_old_faces(data, monkeypatch, capsys)
    assert code == 1 and answer["error"] == "not_migrated" and answer["migrated_users"] == 1

    app = service(data, engine, **migrating)
    assert log_in(app, photo, BIDEN).json["username"] == "biden"
    stats = FaceAuthActions(app, photo).admin("GET", "/api/admin/stats").json
    assert stats["migration"]["migrated_users"] == 2
    close(app)

    code, answer = drop_old_faces(data, monkeypatch, capsys)
    assert code == 0 and answer["dropped_faces"] == 2 and answer["users_without_faces"] == 0
    monkeypatch.delenv("FACE_LOGIN_EMBEDDER_MIGRATE_FROM")

    # SFace alone: no migrate_from, the store holds SFace faces only, both log in.
    app = service(data, engine, FACE_LOGIN_EMBEDDER_MODEL="sface")
    assert log_in(app, photo, OBAMA[0]).json["username"] == "obama"
    assert log_in(app, photo, BIDEN).json["username"] == "biden"
    store = app.extensions["face_login"].store
    models = store.faces.models()
    assert {models[ref].name for ref in store.faces.face_counts_by_model()} == {"sface"}
    assert FaceAuthActions(app, photo).admin("GET", "/api/admin/stats").json["migration"] is None
    close(app)
