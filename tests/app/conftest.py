"""Flask app fixtures: data under tmp_path, the session's real FaceEngine, API actions."""

from __future__ import annotations

import pytest

from tests.helpers import ADMIN_TOKEN, NO_LIMITS, FaceAuthActions


@pytest.fixture
def app(tmp_path, engine):
    from app import create_app

    env = {"FACE_LOGIN_DATA": str(tmp_path / "data"), "FACE_LOGIN_ADMIN_TOKEN": ADMIN_TOKEN}
    application = create_app({"TESTING": True, **NO_LIMITS}, env=env, engine=engine)
    yield application
    accounts = application.extensions.get("face_login")
    if accounts is not None:
        accounts.store.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(app, photo):
    return FaceAuthActions(app, photo)
