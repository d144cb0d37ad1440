"""Server-rendered pages; their JavaScript calls the JSON API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from app.services import current_user

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def page_globals() -> dict[str, Any]:
    """What every page knows: who is signed in, and which flows take the head-turn challenge."""
    liveness = current_app.extensions["face_login_settings"].liveness
    user = current_user()
    return {
        "current_user": user.username if user is not None else None,
        "liveness": {"login": liveness.login, "register": liveness.register},
    }


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("pages.account" if current_user() else "pages.login"))


@bp.get("/login")
def login() -> ResponseReturnValue:
    return render_template("login.html")


@bp.get("/register")
def register() -> ResponseReturnValue:
    return render_template("register.html")


@bp.get("/account")
def account() -> ResponseReturnValue:
    if current_user() is None:
        return redirect(url_for("pages.login"))
    return render_template("account.html")


@bp.get("/admin")
def admin() -> ResponseReturnValue:
    return render_template("admin.html")
