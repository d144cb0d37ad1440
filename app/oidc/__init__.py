"""Face login for other applications: the OpenID provider (Authlib) and forward auth."""

from __future__ import annotations

from flask import Flask

from app.oidc import admin, forward_auth, views
from app.oidc.server import build_server


def register_oidc(app: Flask) -> None:
    """The provider's blueprints, its Authlib server, and the session cookie's domain."""
    cookie_domain = app.extensions["face_login_settings"].oidc.cookie_domain
    if cookie_domain:
        app.config["SESSION_COOKIE_DOMAIN"] = cookie_domain
    app.extensions["face_login_oidc"] = build_server(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(forward_auth.bp)
    app.register_blueprint(admin.bp)
