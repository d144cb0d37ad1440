"""The embedding model as part of the data: vectors record their model, a service refuses a
store made by another one, and FaceNet still works end to end for whoever configures it."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from face_engine import ModelMismatch
from face_engine.config import EmbedderConfig
from face_engine.vision.embedding import model_identity
from tests.helpers import NO_LIMITS, OBAMA, post_form
from tests.stores import open_test_store


def store_one_face(data_dir, model_name: str) -> None:
    """A store holding one face made by ``model_name`` (no network needed to write it)."""
    model = model_identity(EmbedderConfig(model=model_name))  # type: ignore[arg-type]
    vector = np.zeros(model.dim, np.float32)
    vector[0] = 1.0
    store = open_test_store(data_dir / "lmdb")
    store.users.create_user("earlier", [(vector, 0.99)], model)
    store.close()


def test_start_refuses_a_store_made_by_another_model(tmp_path):
    from app import create_app

    # Faces registered while dlib was the default: the SFace default refuses them.
    store_one_face(tmp_path, "dlib")
    with pytest.raises(ModelMismatch) as refused:
        create_app({"TESTING": True}, env={"FACE_LOGIN_DATA": str(tmp_path)})
    message = str(refused.value)
    assert "1 stored faces" in message and "dlib" in message and "sface" in message
    assert "[embedder] model = dlib" in message and "register again" in message
    # Configured for the model that made them, the same data starts (models load lazily).
    env = {"FACE_LOGIN_DATA": str(tmp_path), "FACE_LOGIN_EMBEDDER_MODEL": "dlib"}
    assert create_app({"TESTING": True}, env=env).extensions["face_login_settings"]


def test_start_refuses_a_store_of_the_same_model_with_other_weights(tmp_path):
    from app import create_app

    model = model_identity(EmbedderConfig(model="sface"))
    other = type(model)(model.name, "f" * 64, model.dim)
    store = open_test_store(tmp_path / "lmdb")
    store.users.create_user("earlier", [(np.eye(1, model.dim, dtype=np.float32)[0], 0.9)], other)
    store.close()
    with pytest.raises(ModelMismatch, match="other weights"):
        create_app({"TESTING": True}, env={"FACE_LOGIN_DATA": str(tmp_path)})


@pytest.mark.integration
def test_registered_vectors_record_their_model(auth, app, engine):
    assert auth.register("obama", OBAMA[0], OBAMA[1]).status_code == 201
    store = app.extensions["face_login"].store
    assert list(store.faces.models().values()) == [engine.identity]
    assert engine.identity.name == "sface" and engine.identity.dim == 128
    assert store.faces.faces_of(1)[0].embedding.shape == (128,)


@pytest.mark.integration
def test_facenet_registers_and_logs_in_through_the_api(tmp_path, facenet_engine, photo):
    from app import create_app

    env = {
        "FACE_LOGIN_DATA": str(tmp_path),
        "FACE_LOGIN_EMBEDDER_MODEL": "facenet",
        "FACE_LOGIN_LIVENESS_LOGIN": "false",
        "FACE_LOGIN_LIVENESS_REGISTER": "false",
    }
    app = create_app({"TESTING": True, **NO_LIMITS}, env=env, engine=facenet_engine)
    files = [(io.BytesIO(photo(name)), "p.jpg") for name in OBAMA[:2]]
    r = post_form(app.test_client(), "/api/register", {"username": "obama", "image": files})
    assert r.status_code == 201, r.json
    # A webcam-like copy of a registered photo: smaller and re-encoded.
    image = cv2.imdecode(np.frombuffer(photo(OBAMA[0]), np.uint8), cv2.IMREAD_COLOR)
    small = cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    frame = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    r = post_form(app.test_client(), "/api/login", {"image": [(io.BytesIO(frame), "f.jpg")]})
    assert r.status_code == 200 and r.json["username"] == "obama", r.json
    biden = [(io.BytesIO(photo("people/joe_biden/1.jpg")), "b.jpg")]
    r = post_form(app.test_client(), "/api/login", {"image": biden})
    assert r.status_code == 401 and r.json["error"] == "not_recognized"
    store = app.extensions["face_login"].store
    assert [m.name for m in store.faces.models().values()] == ["facenet"]
    store.close()
