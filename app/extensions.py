"""Flask extensions created once and bound to the app in create_app.

Flask-Limiter counts attempts per client address (well kept, supports Redis and others for
limits shared across workers via ``ratelimit_storage_uri``).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(get_remote_address)


def limit_from_config(key: str) -> Callable[[], str]:
    """A limit string read from app.config when the request arrives."""
    return lambda: str(current_app.config[key])
