"""Flask app fixtures: data under tmp_path, the session's real FaceEngine, a client helper."""

from __future__ import annotations

import io

import pytest

ADMIN_TOKEN = "test-admin-token-0123456789"
NO_LIMITS = {
    "LOGIN_RATE_LIMIT": "1000 per minute",
    "REGISTER_RATE_LIMIT": "1000 per minute",
    "PREVIEW_RATE_LIMIT": "1000 per minute",
    "ADMIN_RATE_LIMIT": "1000 per minute",
}


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


def post_form(client, url: str, data: dict, headers: dict | None = None, method: str = "POST"):
    """A multipart request encoded in memory (Werkzeug's test builder spools bodies over
    500 KB to a temporary file that it never closes)."""
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    fields = MultiDict()
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, tuple):
                item = FileStorage(stream=item[0], filename=item[1], name=name)
            fields.add(name, item)
    boundary, body = encode_multipart(fields)
    return client.open(
        url,
        method=method,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=headers,
    )


class FaceAuthActions:
    """Register and log in with real photos through the API (no session cookie: like curl)."""

    def __init__(self, app, photo):
        self.app = app
        self.photo = photo

    def files(self, *names: str) -> list:
        return [(io.BytesIO(self.photo(n)), n.rsplit("/", 1)[-1]) for n in names]

    def register(self, username: str, *names: str, client=None):
        client = client or self.app.test_client()
        return post_form(
            client, "/api/register", {"username": username, "image": self.files(*names)}
        )

    def login(self, *names: str, username: str | None = None, client=None):
        client = client or self.app.test_client()
        data = {"image": self.files(*names)}
        if username:
            data["username"] = username
        return post_form(client, "/api/login", data)

    def admin(self, method: str, url: str, token: str | None = ADMIN_TOKEN):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.app.test_client().open(url, method=method, headers=headers)


@pytest.fixture
def auth(app, photo):
    return FaceAuthActions(app, photo)
