"""One Accounts (engine, store, index) per worker process, built on first use."""

from __future__ import annotations

import threading

from flask import Flask, current_app, session

from face_engine import Accounts, FaceEngine, Settings, UnknownUser, User, open_accounts

_lock = threading.Lock()


def get_accounts(app: Flask | None = None) -> Accounts:
    """The worker's Accounts; models load once per process (gunicorn runs without preload)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    accounts: Accounts | None = app.extensions.get("face_login")
    if accounts is None:
        with _lock:
            accounts = app.extensions.get("face_login")
            if accounts is None:
                settings: Settings = app.extensions["face_login_settings"]
                engine: FaceEngine | None = app.extensions.get("face_login_engine")
                accounts = open_accounts(settings, engine)
                app.extensions["face_login"] = accounts
    return accounts


def current_user() -> User | None:
    """The logged-in user of this request, or None: no session, a deleted account, or a
    session voided by a logout (its version is older than the user's)."""
    user_id = session.get("user_id")
    if user_id is None:
        return None
    try:
        user = get_accounts().user(int(user_id))
    except UnknownUser:
        user = None
    if user is None or session.get("version") != user.session_version:
        session.pop("user_id", None)
        session.pop("version", None)
        return None
    return user
