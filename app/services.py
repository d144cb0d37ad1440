"""One FaceEngine, store, index and Accounts per worker process, built on first use."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from face_engine.accounts import Accounts
from face_engine.index import open_store_and_index
from face_engine.vision.pipeline import FaceEngine

_lock = threading.Lock()


def get_accounts(app: Flask | None = None) -> Accounts:
    """The worker's Accounts; models load once per process (gunicorn runs without preload)."""
    app = app or current_app._get_current_object()
    accounts = app.extensions.get("face_login")
    if accounts is None:
        with _lock:
            accounts = app.extensions.get("face_login")
            if accounts is None:
                settings = app.extensions["face_login_settings"]
                store, index = open_store_and_index(settings)
                # Tests hand in one shared engine (FACE_ENGINE) instead of loading the models again.
                engine = app.config.get("FACE_ENGINE") or FaceEngine(settings)
                accounts = Accounts(engine, store, index)
                app.extensions["face_login"] = accounts
    return accounts
