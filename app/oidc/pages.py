"""What the login page says about where the person goes next."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from app.oidc.server import get_provider


def continue_to(target: str | None) -> str | None:
    """The application's name when the login is for one (an authorize request), else the
    host the person returns to; None for this service's own pages."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.path == "/oauth/authorize" and not parts.netloc:
        client_id = parse_qs(parts.query).get("client_id", [""])[0]
        client = get_provider().clients.get(client_id)
        return client.name if client else None
    return parts.netloc or None
