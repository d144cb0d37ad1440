"""Flask extensions created once and bound to the app in create_app.

Flask-Limiter counts attempts per client address, in the storage ``ratelimit_storage_uri``
names: ``lmdb://`` (ours, in app.ratelimits: exact across one host's workers), ``redis://``
(several hosts) or ``memory://`` (per worker).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app import ratelimits  # noqa: F401 - registers the lmdb:// storage scheme

limiter = Limiter(get_remote_address)


def limit_from_config(key: str) -> Callable[[], str]:
    """A limit string read from app.config when the request arrives."""
    return lambda: str(current_app.config[key])
