"""Secret key, session cookie flags, CSRF for cookie-carrying requests."""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request, session

from app.errors import ApiError

CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


# What the service's responses tell browsers: scripts, styles and pictures from this origin
# only (the camera preview draws blob: and data: images), never framed, no MIME sniffing, no
# address sent to other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def private_data_dir(data_dir: Path) -> None:
    """The data directory and everything in it readable by this user only (0700 folders,
    0600 files): it holds biometric data. New files get the same through the umask."""
    os.umask(0o077)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder, _, files in os.walk(data_dir):
        os.chmod(folder, 0o700)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


def secret_key(configured: str, env_value: str | None, data_dir: Path) -> str:
    """FLASK_SECRET_KEY, else config, else a key generated once and kept in the data dir.

    The key file appears whole or not at all: it is written to a temporary file and linked
    into place, so a process starting at the same moment never reads it empty.
    """
    if env_value:
        return env_value
    if configured:
        return configured
    path = data_dir / "secret_key"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(prefix=".secret_key-", dir=data_dir)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)  # fails if another process got there first: use theirs
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def csrf_token() -> str:
    """This session's CSRF token (created on first use); pages put it in a meta tag."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _same_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


V = TypeVar("V", bound=Callable[..., Any])


def csrf_exempt(view: V) -> V:
    """Mark a view that no browser session can act through (a token endpoint: its callers
    authenticate themselves and send no cookie of ours), so the check below skips it."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def check_csrf() -> None:
    """A state-changing request that carries our session cookie must come from our pages:
    the X-CSRF-Token header (or a form's csrf_token field) matches the session's token, or
    Origin is our own. Programs calling the API without the cookie (curl) need neither."""
    if request.method not in UNSAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "csrf_exempt", False):
        return
    origin = request.headers.get("Origin")
    if origin and origin != "null" and not _same_origin(origin):
        raise ApiError(403, "csrf_failed", "cross-site request refused")
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.mimetype == "application/x-www-form-urlencoded":
        sent = request.form.get("csrf_token", "")
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
    app.after_request(add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
