"""Server-rendered pages; their JavaScript calls the JSON API."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, session, url_for

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return redirect(url_for("pages.account" if session.get("user_id") else "pages.login"))


@bp.get("/login")
def login():
    return render_template("login.html")


@bp.get("/register")
def register():
    return render_template("register.html")


@bp.get("/account")
def account():
    if session.get("user_id") is None:
        return redirect(url_for("pages.login"))
    return render_template("account.html")


@bp.get("/admin")
def admin():
    return render_template("admin.html")
