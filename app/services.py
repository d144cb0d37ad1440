"""One Accounts (engine, store, index) per worker process, built on first use."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from face_engine import Accounts, FaceEngine, Settings, open_accounts

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
