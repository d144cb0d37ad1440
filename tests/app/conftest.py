"""Flask app fixtures: data under tmp_path, the session's real FaceEngine, API actions."""

from __future__ import annotations

import pytest

from tests.helpers import ADMIN_TOKEN, NO_LIMITS, FaceAuthActions


@pytest.fixture
def app(tmp_path, engine):
    """The service with the head-turn challenge switched off (photo login and registration,
    as a kiosk with its own anti-spoofing would run it); tests/app/test_liveness_api.py has
    the service as shipped."""
    from app import create_app

    env = {
        "FACE_LOGIN_DATA": str(tmp_path / "data"),
        "FACE_LOGIN_ADMIN_TOKEN": ADMIN_TOKEN,
        "FACE_LOGIN_LIVENESS_LOGIN": "false",
        "FACE_LOGIN_LIVENESS_REGISTER": "false",
    }
    application = create_app({"TESTING": True, **NO_LIMITS}, env=env, engine=engine)
    yield application
    accounts = application.extensions.get("face_login")
    if accounts is not None:
        accounts.store.close()


@pytest.fixture
def live_app(tmp_path, engine):
    """The service as shipped (liveness on, the replay memory off), with the test's rate
    limits."""
    from app import create_app

    env = {"FACE_LOGIN_DATA": str(tmp_path / "live")}
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
