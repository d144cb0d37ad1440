"""The JSON API for people: register, challenge, log in, log out, the account, the preview.

Sessions carry the user's id and session version: logging out, deleting the account or an
admin deleting it voids every cookie of that user at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, current_app, jsonify, request, session
from flask.typing import ResponseReturnValue

from app.api.users import user_json
from app.concurrency import costly
from app.errors import ApiError
from app.extensions import limit_from_config, limiter
from app.services import current_user, get_accounts
from app.uploads import form_text, image_files
from face_engine import ChallengeRequired, FaceEngineError, User, yaw_proxy

bp = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger(__name__)


KEPT_AT_LOGIN = ("csrf", "oidc_fresh_after")
"""What a login keeps of the session before it: the CSRF token, and an application's wish
for a fresh login (which this login fulfils)."""


def _log_in(user: User) -> None:
    kept = {name: session[name] for name in KEPT_AT_LOGIN if name in session}
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    session["version"] = user.session_version
    session["auth_time"] = time.time()  # when the face was seen: OIDC auth_time, max_age
    session.update(kept)


def _current_user() -> User:
    user = current_user()
    if user is None:
        raise ApiError(401, "not_logged_in", "log in first")
    return user


def _client() -> str:
    """Who asked for a challenge: the client's address (the proxy's X-Forwarded-For only
    when ``trusted_proxies`` says so)."""
    return request.remote_addr or ""


@contextlib.contextmanager
def audited(action: str) -> Iterator[dict[str, Any]]:
    """Record the attempt the block makes in the audit log: ``ok`` with what the block puts
    in the dict (``match`` or ``username``), or the error code it raised."""
    found: dict[str, Any] = {}
    outcome = "ok"
    try:
        yield found
    except (FaceEngineError, ApiError) as e:
        outcome = e.code
        raise
    except Exception:
        outcome = "internal_error"
        raise
    finally:
        try:
            get_accounts().audit(
                action, _client(), outcome, found.get("match"), found.get("username")
            )
        except Exception:  # the audit must never turn an answer into a 500
            log.exception("could not write the audit entry")


def _require_challenge(*, login: bool) -> str | None:
    """The challenge id sent; without one, when the flow needs it, 400 challenge_required
    before anything else about the request is judged (frames, their number, the username)."""
    challenge_id = form_text("challenge", 100) or None
    if challenge_id is None and get_accounts().needs_challenge(login=login):
        raise ChallengeRequired()
    return challenge_id


def _frame_limit() -> int | None:
    """With a challenge, up to ``[liveness] max_frames`` frames; else ``[app] max_images``."""
    if request.form.get("challenge"):
        return int(current_app.config["MAX_FRAMES"])
    return None


@bp.post("/challenge")
@limiter.limit(limit_from_config("CHALLENGE_RATE_LIMIT"))
def challenge() -> ResponseReturnValue:
    """A head-turn challenge for this client: single-use, expiring."""
    issued = get_accounts().challenge(_client())
    return jsonify(
        {"challenge": issued.id, "steps": list(issued.steps), "expires_in": issued.expires_in}
    )


@bp.post("/register")
@limiter.limit(limit_from_config("REGISTER_RATE_LIMIT"))
@costly("face")
def register() -> ResponseReturnValue:
    """Create an account from a username and the frames of a head-turn challenge (or, with
    liveness off for registration, 1-5 photos of one face); logs the user in."""
    with audited("register") as attempt:
        challenge_id = _require_challenge(login=False)
        username = form_text("username", 200)
        if not username:
            raise ApiError(400, "invalid_username", "a username is required")
        images = image_files(_frame_limit())
        user = get_accounts().register(username, images, challenge_id, _client())
        attempt["username"] = user.username
    _log_in(user)
    faces = get_accounts().face_count(user.id)
    return jsonify({"user_id": user.id, "username": user.username, "faces": faces}), 201


@bp.post("/login")
@limiter.limit(limit_from_config("LOGIN_RATE_LIMIT"))
@costly("face")
def login() -> ResponseReturnValue:
    """Recognise the frames of a head-turn challenge (or, with liveness off for login, 1-5
    frames) among everyone (1:N), or verify them as ``username`` (1:1). A 401
    ``username_required`` carries ``pending``: post it back with ``username`` (no frames)
    to finish 1:1 on the same frames."""
    with audited("login") as attempt:
        username = form_text("username", 200) or None
        pending = form_text("pending", 100) or None
        accounts = get_accounts()
        if pending:  # the username step after a 401 username_required: no new frames
            if not username:
                raise ApiError(400, "invalid_username", "a username is required")
            match = accounts.finish_login(pending, username, _client())
        else:
            challenge_id = _require_challenge(login=True)
            images = image_files(_frame_limit())
            match = accounts.login(images, username, challenge_id, _client())
        attempt["match"] = match
    _log_in(accounts.user(match.user_id))
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
    """Log out everywhere: every session of this user ends now."""
    user = current_user()
    if user is not None:
        get_accounts().end_sessions(user.id)
    session.pop("user_id", None)
    session.pop("version", None)
    return jsonify({"ok": True})


@bp.get("/me")
def me() -> ResponseReturnValue:
    return jsonify(user_json(_current_user()))


@bp.delete("/me")
def delete_me() -> ResponseReturnValue:
    user = _current_user()
    get_accounts().delete(user.id)
    session.pop("user_id", None)
    return jsonify({"deleted": user.username})


@bp.post("/preview")
@limiter.limit(limit_from_config("PREVIEW_RATE_LIMIT"))
@costly("preview")
def preview() -> ResponseReturnValue:
    """Faces in one camera frame (detection only), for the pages' live preview."""
    images = image_files()
    if len(images) != 1:
        raise ApiError(400, "too_many_images", "send exactly one image")
    result = get_accounts().preview(images[0])
    return jsonify(
        {
            "faces": [
                {
                    "box": [round(v, 1) for v in f.box],
                    "score": round(f.score, 3),
                    "landmarks": [[round(float(v), 1) for v in point] for point in f.landmarks],
                    "yaw": round(yaw_proxy(f.landmarks), 3),
                }
                for f in result.faces
            ],
            "width": result.width,
            "height": result.height,
        }
    )
