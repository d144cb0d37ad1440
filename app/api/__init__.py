"""The JSON API: ``auth`` (register, challenge, login, logout, me, preview) and ``admin``."""

from __future__ import annotations

from flask import Flask

from app.api import admin, auth


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
