"""Where the login page may send a person afterwards: this service's own pages, or a host
the admin allows in ``[oidc] allowed_return_hosts``; never anywhere else (no open redirect)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import current_app, request

MAX_RETURN = 4000


def _allowed(netloc: str, hostname: str) -> bool:
    """``netloc`` (host:port) matches an entry: ``host`` (any port), ``host:port``, or
    ``.example.com`` (any sub-domain of example.com)."""
    allowed = current_app.extensions["face_login_settings"].oidc.allowed_return_hosts
    for entry in (e.strip().lower() for e in allowed):
        if entry.startswith(".") and hostname.endswith(entry):
            return True
        if entry in (netloc, hostname):
            return True
    return False


def safe_return(target: str | None) -> str | None:
    """``target`` if the login page may go there after a login, else None.

    Accepted: a path on this service (``/oauth/authorize?...``; not ``//host``), or an
    absolute http(s) URL on this host or an allowed one, without user:password@.
    """
    if not target or len(target) > MAX_RETURN or "\\" in target or not target.isprintable():
        return None
    try:
        parts = urlsplit(target)
        hostname = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if not parts.scheme and not parts.netloc:
        return target if target.startswith("/") and not target.startswith("//") else None
    if parts.scheme not in ("http", "https") or not hostname or "@" in parts.netloc:
        return None
    netloc = parts.netloc.lower()
    if netloc == request.host.lower() or _allowed(netloc, hostname):
        return target
    return None


def login_url(base: str, target: str | None, force: bool = False) -> str:
    """The login page under ``base`` that comes back to ``target`` (and, with ``force``,
    asks for a new face login even when a session exists)."""
    params = {"return": target} if target else {}
    if force:
        params["force"] = "1"
    return f"{base}/login" + (f"?{urlencode(params)}" if params else "")
