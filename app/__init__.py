"""face-login web service: ``create_app()`` is what gunicorn runs (``"app:create_app()"``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from face_engine import Accounts, FaceEngine, check_stored_model

ROOT = Path(__file__).resolve().parent.parent


def create_app(
    test_config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    accounts: Accounts | None = None,
    engine: FaceEngine | None = None,
) -> Flask:
    """Build the app: config.ini (FACE_LOGIN_CONFIG) -> environment -> ``test_config``.

    ``env`` replaces ``os.environ`` as the source of overrides (tests pass their own).
    ``accounts`` replaces the use cases (a stub, for tests that need no models); ``engine``
    shares already loaded models (the real-model tests load them once per session).
    """
    from app import pages
    from app.api import register_blueprints
    from app.concurrency import ClientSlots, WorkBudget
    from app.config import load_config
    from app.errors import register_error_handlers
    from app.extensions import limiter
    from app.oidc import register_oidc
    from app.proxies import TrustedProxies
    from app.ratelimits import storage_uri
    from app.security import configure_sessions, private_data_dir, secret_key

    env = os.environ if env is None else env
    settings, config = load_config(env)
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    private_data_dir(settings.data.dir)
    app.config.update(
        SECRET_KEY=secret_key(config.secret_key, env.get("FLASK_SECRET_KEY"), settings.data.dir),
        MAX_CONTENT_LENGTH=config.max_content_length,
        MAX_IMAGES=config.max_images,
        ADMIN_TOKEN=config.admin_token,
        LOGIN_RATE_LIMIT=config.login_rate_limit,
        REGISTER_RATE_LIMIT=config.register_rate_limit,
        PREVIEW_RATE_LIMIT=config.preview_rate_limit,
        ADMIN_RATE_LIMIT=config.admin_rate_limit,
        ADMIN_FAILURE_LIMIT=config.admin_failure_limit,
        CHALLENGE_RATE_LIMIT=config.challenge_rate_limit,
        CLIENT_WORK_LIMIT=config.client_work_limit,
        MAX_FRAMES=settings.liveness.max_frames,
        RATELIMIT_STORAGE_URI=storage_uri(config.ratelimit_storage_uri, settings.data.dir),
        RATELIMIT_HEADERS_ENABLED=True,
    )
    configure_sessions(app, config.session_cookie_secure, config.session_hours)
    app.config.update(test_config or {})
    if config.trusted_proxies:
        app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
            app.wsgi_app, config.proxy_addresses, config.trusted_proxies
        )
    app.extensions["face_login_settings"] = settings
    app.extensions["client_slots"] = ClientSlots(config.client_concurrency)
    app.extensions["work_budget"] = WorkBudget()
    if accounts is None:
        check_stored_model(settings)  # ModelMismatch: refuse to start, saying what to do
    else:
        app.extensions["face_login"] = accounts
    if engine is not None:
        app.extensions["face_login_engine"] = engine
    limiter.init_app(app)
    register_error_handlers(app)
    register_blueprints(app)
    register_oidc(app)
    app.register_blueprint(pages.bp)

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        """Liveness only: the process answers. Counts and the worker are the admin's."""
        return jsonify({"status": "ok"})

    logging.basicConfig(level=logging.INFO)
    return app
