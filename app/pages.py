"""Server-rendered pages; their JavaScript calls the JSON API."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("pages.account" if session.get("user_id") else "pages.login"))


@bp.get("/login")
def login() -> ResponseReturnValue:
    return render_template("login.html")


@bp.get("/register")
def register() -> ResponseReturnValue:
    return render_template("register.html")


@bp.get("/account")
def account() -> ResponseReturnValue:
    if session.get("user_id") is None:
        return redirect(url_for("pages.login"))
    return render_template("account.html")


@bp.get("/admin")
def admin() -> ResponseReturnValue:
    return render_template("admin.html")
