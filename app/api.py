"""The JSON API: register, log in, the account, the live preview, admin."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify, session
from flask.typing import ResponseReturnValue

from app.errors import ApiError
from app.extensions import limit_from_config, limiter
from app.security import admin_required
from app.services import get_accounts
from app.uploads import form_text, image_files
from face_engine import UnknownUser, User

bp = Blueprint("api", __name__, url_prefix="/api")


def _user_json(user: User) -> dict[str, object]:
    return {
        "user_id": user.id,
        "username": user.username,
        "created": user.created,
        "last_login": user.last_login,
    }


def _log_in(user_id: int) -> None:
    csrf = session.get("csrf")
    session.clear()
    session.permanent = True
    session["user_id"] = user_id
    if csrf:
        session["csrf"] = csrf


def _current_user() -> User:
    user_id = session.get("user_id")
    if user_id is None:
        raise ApiError(401, "not_logged_in", "log in first")
    try:
        return get_accounts().user(int(user_id))
    except UnknownUser:
        session.pop("user_id", None)
        raise ApiError(401, "not_logged_in", "this account no longer exists") from None


@bp.post("/register")
@limiter.limit(limit_from_config("REGISTER_RATE_LIMIT"))
def register() -> ResponseReturnValue:
    """Create an account from a username and 1-5 photos of one face; logs the user in."""
    username = form_text("username", 200)
    if not username:
        raise ApiError(400, "invalid_username", "a username is required")
    user = get_accounts().register(username, image_files())
    _log_in(user.id)
    faces = get_accounts().face_count(user.id)
    return jsonify({"user_id": user.id, "username": user.username, "faces": faces}), 201


@bp.post("/login")
@limiter.limit(limit_from_config("LOGIN_RATE_LIMIT"))
def login() -> ResponseReturnValue:
    """Recognise 1-5 frames (1:N), or verify them as ``username`` (1:1)."""
    username = form_text("username", 200) or None
    match = get_accounts().login(image_files(), username=username)
    _log_in(match.user_id)
    return jsonify(
        {
            "ok": True,
            "user_id": match.user_id,
            "username": match.username,
            "distance": round(match.distance, 4),
        }
    )


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.pop("user_id", None)
    return jsonify({"ok": True})


@bp.get("/me")
def me() -> ResponseReturnValue:
    return jsonify(_user_json(_current_user()))


@bp.delete("/me")
def delete_me() -> ResponseReturnValue:
    user = _current_user()
    get_accounts().delete(user.id)
    session.pop("user_id", None)
    return jsonify({"deleted": user.username})


@bp.post("/preview")
@limiter.limit(limit_from_config("PREVIEW_RATE_LIMIT"))
def preview() -> ResponseReturnValue:
    """Faces in one camera frame (detection only), for the pages' live preview."""
    images = image_files()
    if len(images) != 1:
        raise ApiError(400, "too_many_images", "send exactly one image")
    result = get_accounts().preview(images[0])
    return jsonify(
        {
            "faces": [
                {"box": [round(v, 1) for v in f.box], "score": round(f.score, 3)}
                for f in result.faces
            ],
            "width": result.width,
            "height": result.height,
        }
    )


@bp.get("/admin/stats")
@admin_required
@limiter.limit(limit_from_config("ADMIN_RATE_LIMIT"))
def admin_stats() -> ResponseReturnValue:
    stats = get_accounts().stats()
    built = stats["index_built_at"]
    stats["index_age_seconds"] = round(time.time() - built, 1) if built else None
    return jsonify(stats)


@bp.post("/admin/rebuild-index")
@admin_required
@limiter.limit(limit_from_config("ADMIN_RATE_LIMIT"))
def admin_rebuild() -> ResponseReturnValue:
    manifest = get_accounts().rebuild()
    return jsonify(
        {"faces": manifest.faces, "version": manifest.version, "seconds": manifest.seconds}
    )


@bp.get("/admin/users")
@admin_required
@limiter.limit(limit_from_config("ADMIN_RATE_LIMIT"))
def admin_users() -> ResponseReturnValue:
    users = [{**_user_json(user), "faces": faces} for user, faces in get_accounts().users()]
    return jsonify({"users": users})


@bp.delete("/admin/users/<username>")
@admin_required
@limiter.limit(limit_from_config("ADMIN_RATE_LIMIT"))
def admin_delete_user(username: str) -> ResponseReturnValue:
    accounts = get_accounts()
    user = accounts.find_user(username)  # UnknownUser: 404 unknown_user
    accounts.delete(user.id)
    return jsonify({"deleted": user.username})
