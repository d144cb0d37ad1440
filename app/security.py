"""Secret key, session cookie flags, CSRF for cookie-carrying requests."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app, request, session

from app.errors import ApiError

CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def secret_key(configured: str, env_value: str | None, data_dir: Path) -> str:
    """FLASK_SECRET_KEY, else config, else a key generated once and kept in the data dir."""
    if env_value:
        return env_value
    if configured:
        return configured
    path = data_dir / "secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_text().strip()


def csrf_token() -> str:
    """This session's CSRF token (created on first use); pages put it in a meta tag."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _same_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def check_csrf() -> None:
    """A state-changing request that carries our session cookie must come from our pages:
    the X-CSRF-Token header matches the session's token, or Origin is our own. Programs
    calling the API without the cookie (curl) need neither."""
    if request.method not in UNSAFE_METHODS:
        return
    origin = request.headers.get("Origin")
    if origin and origin != "null" and not _same_origin(origin):
        raise ApiError(403, "csrf_failed", "cross-site request refused")
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    expected = session.get("csrf", "")
    if expected and sent and hmac.compare_digest(sent, expected):
        return
    if origin and _same_origin(origin):
        return
    raise ApiError(403, "csrf_failed", "missing or wrong CSRF token; reload the page")


def configure_sessions(app: Flask, secure: bool, hours: int) -> None:
    from datetime import timedelta

    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=hours),
    )
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
