"""Server-rendered pages; their JavaScript calls the JSON API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.oidc.pages import continue_to
from app.oidc.returns import safe_return
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
    """The face login; ``?return=`` (or ``next``) is where to go afterwards, when allowed;
    ``force=1`` asks for a new face login even with a session (an application asked)."""
    target = safe_return(request.args.get("return") or request.args.get("next"))
    force = request.args.get("force") == "1"
    if target and not force and current_user() is not None:
        return redirect(target)
    return render_template(
        "login.html", return_to=target, force=force, continue_to=continue_to(target)
    )


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
