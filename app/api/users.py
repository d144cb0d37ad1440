"""The user as JSON, the same in the account and admin views."""

from __future__ import annotations

from face_engine import User


def user_json(user: User) -> dict[str, object]:
    return {
        "user_id": user.id,
        "username": user.username,
        "created": user.created,
        "last_login": user.last_login,
        "previous_login": user.previous_login,
    }
