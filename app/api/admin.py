"""Admin API: one blueprint, one ``before_request`` that checks the bearer token.

Failed attempts (401/403) are counted per client before the token is even looked at, so a
guesser is answered 429 after ``admin_failure_limit`` wrong tokens whatever it sends next.
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from app.api.users import user_json
from app.errors import ApiError
from app.extensions import limit_from_config, limiter
from app.services import get_accounts

bp = Blueprint("admin", __name__, url_prefix="/api/admin")


def _failed(response: Response) -> bool:
    return response.status_code in (401, 403)


limiter.limit(
    limit_from_config("ADMIN_FAILURE_LIMIT"), deduct_when=_failed, scope="admin-failures"
)(bp)
limiter.limit(limit_from_config("ADMIN_RATE_LIMIT"), scope="admin")(bp)


@bp.before_request
def require_admin_token() -> None:
    """Bearer token from FACE_LOGIN_ADMIN_TOKEN or config, compared in constant time."""
    expected = current_app.config["ADMIN_TOKEN"]
    if not expected:
        raise ApiError(403, "admin_disabled", "no admin token is configured on this server")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "admin_token_required", "send Authorization: Bearer <token>")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise ApiError(403, "admin_token_invalid", "the admin token is wrong")


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    figures = get_accounts().stats()
    built = figures["index_built_at"]
    figures["index_age_seconds"] = round(time.time() - built, 1) if built else None
    figures["worker"] = os.getpid()
    return jsonify(figures)


@bp.post("/rebuild-index")
def rebuild() -> ResponseReturnValue:
    """Start a rebuild in the background: 202 at once, with its status (``state``: running;
    or the running one's, if a rebuild is already under way)."""
    return jsonify(get_accounts().start_rebuild()), 202


@bp.get("/rebuild-index")
def rebuild_status() -> ResponseReturnValue:
    """The last rebuild: ``state`` idle, running, done (faces, version, seconds) or failed."""
    return jsonify(get_accounts().rebuild_status())


@bp.get("/audit")
def audit() -> ResponseReturnValue:
    """Login and registration attempts, newest first: ``?limit=`` (1-500, default 50) and
    ``?before=`` (an entry id) page back; ``failures_by_address`` counts the failed attempts
    of the page by client address."""
    limit = request.args.get("limit", "50")
    before = request.args.get("before")
    if not limit.isdigit() or not 1 <= int(limit) <= 500:
        raise ApiError(400, "bad_request", "limit must be a whole number from 1 to 500")
    if before is not None and not before.isdigit():
        raise ApiError(400, "bad_request", "before must be an entry id")
    entries = get_accounts().audit_log(int(limit), int(before) if before else None)
    failures: dict[str, int] = {}
    for entry in entries:
        if entry["outcome"] != "ok":
            failures[entry["client"]] = failures.get(entry["client"], 0) + 1
    return jsonify(
        {
            "entries": entries,
            "next_before": entries[-1]["id"] if len(entries) == int(limit) else None,
            "failures_by_address": failures,
        }
    )


@bp.get("/users")
def users() -> ResponseReturnValue:
    listed = [{**user_json(user), "faces": faces} for user, faces in get_accounts().users()]
    return jsonify({"users": listed})


@bp.delete("/users/<username>")
def delete_user(username: str) -> ResponseReturnValue:
    accounts = get_accounts()
    user = accounts.find_user(username)  # UnknownUser: 404 unknown_user
    accounts.delete(user.id)
    return jsonify({"deleted": user.username})
