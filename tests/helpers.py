"""Helpers the tests share: multipart requests, API actions, test images, a stub of Accounts.

Imported by the tests themselves (``from tests.helpers import ...``); fixtures stay in the
conftest files.
"""

from __future__ import annotations

import dataclasses
import io
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "test-admin-token-0123456789"
NO_LIMITS = {
    "LOGIN_RATE_LIMIT": "1000 per minute",
    "REGISTER_RATE_LIMIT": "1000 per minute",
    "PREVIEW_RATE_LIMIT": "1000 per minute",
    "ADMIN_RATE_LIMIT": "1000 per minute",
    "CLIENT_WORK_LIMIT": "",
}
"""Rate limits high enough for a test's own requests (a test of the limits sets its own)."""
OBAMA = ["people/barack_obama/1.jpg", "people/barack_obama/2.jpg", "people/barack_obama/3.jpg"]
BIDEN = "people/joe_biden/1.jpg"


def blank_jpeg() -> bytes:
    """A 640x480 grey JPEG: a sound image with no face."""
    return cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()


def post_form(
    client: Any,
    url: str,
    data: dict[str, Any],
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Any:
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


class StubAccounts:
    """Stands in for ``face_engine.Accounts`` in the fast tier: no models, no store. Knows one
    user, "ada" (id 1), who "logs in" with any image; ``fail_with`` makes every call raise."""

    def __init__(self) -> None:
        from face_engine import User

        self.ada = User(1, "ada", 0.0, "active", None)
        self.fail_with: Exception | None = None
        self.deleted: list[int] = []
        self.challenges: list[str] = []
        self.audited: list[tuple[str, str, str]] = []
        self.challenge_needed = False

    def needs_challenge(self, *, login: bool) -> bool:
        return self.challenge_needed

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def challenge(self, client: str) -> Any:
        from face_engine import Challenge

        self.challenges.append(client)
        return Challenge(f"c{len(self.challenges)}", ("left", "right"), time.time() + 60, client)

    def register(
        self, username: str, images: list[bytes], challenge_id: str | None = None, client: str = ""
    ) -> Any:
        self._check()
        return self.ada

    def login(
        self,
        images: list[bytes],
        username: str | None = None,
        challenge_id: str | None = None,
        client: str = "",
    ) -> Any:
        from face_engine import Match

        self._check()
        return Match(self.ada.id, self.ada.username, 0.1)

    def user(self, user_id: int) -> Any:
        from face_engine import UnknownUser

        if user_id != self.ada.id or self.deleted:
            raise UnknownUser()
        return self.ada

    def find_user(self, username: str) -> Any:
        return self.user(1 if username.casefold() == "ada" else 0)

    def face_count(self, user_id: int) -> int:
        return 2

    def users(self) -> list[tuple[Any, int]]:
        return [(self.ada, 2)]

    def delete(self, user_id: int) -> None:
        self.deleted.append(user_id)

    def end_sessions(self, user_id: int) -> None:
        self.ada = dataclasses.replace(self.ada, session_version=self.ada.session_version + 1)

    def audit(self, action: str, client: str, outcome: str, match=None, username=None) -> None:
        self.audited.append((action, client, outcome))

    def audit_log(self, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        return []

    def stats(self) -> dict[str, Any]:
        return {
            "users": 1,
            "faces": 2,
            "index_version": 0,
            "index_faces": 0,
            "index_built_at": None,
            "fresh_faces": 2,
        }
