"""The admin API for the OpenID provider: register, list and remove applications; rotate
the signing key. Same bearer token and failure limits as the rest of /api/admin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from app.api.admin import require_admin_token
from app.errors import ApiError
from app.extensions import limit_from_config, limiter
from app.oidc.server import get_provider

bp = Blueprint("oidc_admin", __name__, url_prefix="/api/admin/oidc")
limiter.limit(
    limit_from_config("ADMIN_FAILURE_LIMIT"),
    deduct_when=lambda r: r.status_code in (401, 403),
    scope="admin-failures",
)(bp)
limiter.limit(limit_from_config("ADMIN_RATE_LIMIT"), scope="admin")(bp)
bp.before_request(require_admin_token)


def _strings(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "bad_request", f"{name} must be a list of strings")
    return list(value)


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ApiError(400, "bad_request", f"{name} must be true or false")
    return value


@bp.post("/clients")
def register_client() -> ResponseReturnValue:
    """JSON: name, redirect_uris, and optionally client_id, scopes, public, consent,
    post_logout_redirect_uris. Answers the client and, once, its secret."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "send a JSON object")
    client_id = body.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        raise ApiError(400, "bad_request", "client_id must be a string")
    client, secret = get_provider().clients.register(
        str(body.get("name") or ""),
        _strings(body, "redirect_uris") or [],
        client_id=client_id,
        scopes=_strings(body, "scopes"),
        public=_flag(body, "public", False),
        consent=_flag(body, "consent", True),
        post_logout_redirect_uris=_strings(body, "post_logout_redirect_uris"),
    )
    return jsonify({**client.public_json(), "client_secret": secret}), 201


@bp.get("/clients")
def list_clients() -> ResponseReturnValue:
    return jsonify({"clients": [c.public_json() for c in get_provider().clients.all()]})


@bp.delete("/clients/<client_id>")
def remove_client(client_id: str) -> ResponseReturnValue:
    get_provider().clients.remove(client_id)
    return jsonify({"deleted": client_id})


@bp.post("/keys/rotate")
def rotate_key() -> ResponseReturnValue:
    """Sign with a new key from now on; the old one stays in the JWKS for a while."""
    key = get_provider().keys.rotate()
    return jsonify({"kid": key.kid, "published": [k.kid for k in get_provider().keys.published()]})
