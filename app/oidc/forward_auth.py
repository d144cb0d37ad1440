"""Forward auth for reverse proxies (nginx ``auth_request``, Traefik ForwardAuth, Caddy
``forward_auth``): 200 with the user for a live session, 401 otherwise."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from app.oidc.returns import login_url, safe_return
from app.oidc.server import issuer
from app.services import current_user

bp = Blueprint("forward_auth", __name__)
USER_HEADER = "X-Face-Login-User"


def _original_url() -> str | None:
    """The address the person asked the proxy for: ``X-Original-URL`` (nginx, set in the
    README's configuration) or Traefik's ``X-Forwarded-Proto/-Host/-Uri``."""
    original = request.headers.get("X-Original-URL")
    if original:
        return original
    host, uri = request.headers.get("X-Forwarded-Host"), request.headers.get("X-Forwarded-Uri")
    if host and uri:
        return f"{request.headers.get('X-Forwarded-Proto', 'https')}://{host}{uri}"
    return None


@bp.get("/auth/verify")
def verify() -> ResponseReturnValue:
    """200 and ``X-Face-Login-User: <username>`` with a valid session; else 401, with a
    ``Location`` of the login page that comes back to the original address when the proxy
    sent it and the admin allows its host (nginx: ``auth_request_set`` + ``error_page``)."""
    user = current_user()
    if user is not None:
        response = Response(status=200)
        response.headers[USER_HEADER] = user.username
        response.headers["X-Face-Login-User-Id"] = str(user.id)
    else:
        response = jsonify({"ok": False, "error": "not_logged_in", "detail": "log in first"})
        response.status_code = 401
        target = safe_return(_original_url())
        response.headers["Location"] = login_url(issuer(), target)
    response.headers["Cache-Control"] = "no-store"
    return response
