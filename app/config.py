"""The web service's settings: the ``[app]`` section, read from the same single parse as the
engine's sections, and the check that the whole file and environment hold no unknown key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from limits import parse_many

from app.proxies import Network
from face_engine.config import (
    ENV_ALIASES,
    Settings,
    engine_sections,
    read_config,
    settings_from,
)

APP_ALIASES = {**ENV_ALIASES, "FACE_LOGIN_ADMIN_TOKEN": ("app", "admin_token")}


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Everything under ``[app]``; override any key as FACE_LOGIN_APP_<KEY>."""

    admin_token: str = ""
    secret_key: str = ""
    workers: int = 2
    threads: int = 4
    timeout: int = 120
    # Seconds a request (headers and body) may take to arrive, read on the worker's event loop
    # before any thread sees it (serving/worker.py); slower clients are dropped (408).
    request_read_timeout: float = 30.0
    # Bytes of requests each worker holds while they arrive or wait for a thread (past it,
    # arriving uploads are not read until bytes are freed).
    max_held_request_bytes: int = 128 * 1024 * 1024
    # Bytes a second one client address's uploads are read at, per worker (past it they wait
    # in TCP); off behind a proxy (trusted_proxies > 0), where all share its address. 0: none.
    client_upload_rate: int = 8 * 1024 * 1024
    max_content_length: int = 16 * 1024 * 1024
    max_images: int = 5
    login_rate_limit: str = "10 per minute; 60 per hour"
    register_rate_limit: str = "5 per minute; 30 per hour"
    preview_rate_limit: str = "150 per minute"
    admin_rate_limit: str = "60 per minute"
    # Wrong admin tokens per client; past it every admin request is answered 429 for a while.
    admin_failure_limit: str = "10 per minute; 30 per hour"
    challenge_rate_limit: str = "30 per minute; 300 per hour"
    # Costly requests (logins and registrations; previews apart) one client address may
    # have in flight per worker; more are answered 429 at once. 0: no limit.
    client_concurrency: int = 1
    # Milliseconds of worker time the costly requests of one client address may take per
    # window (Flask-Limiter syntax), across workers; past it, 429 too_much_work. Empty: none.
    client_work_limit: str = "20000 per minute"
    # lmdb:// (a bare one: <data>/ratelimits) counts exactly across this host's workers;
    # redis://host:port across hosts; memory:// per worker.
    ratelimit_storage_uri: str = "lmdb://"
    session_cookie_secure: bool = False
    session_hours: int = 12
    trusted_proxies: int = 0
    # Peers whose X-Forwarded-For is believed (with trusted_proxies > 0): IPs or networks.
    proxy_addresses: tuple[Network, ...] = (Network("127.0.0.1"), Network("::1"))

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name.endswith("_limit") and value:
                try:
                    parse_many(value)
                except ValueError:
                    raise ValueError(
                        f"{name}: {value!r} is not a limit like '10 per minute; 60 per hour'"
                    ) from None
        if self.client_upload_rate < 0:
            raise ValueError("client_upload_rate must be 0 (no limit) or more")
        if self.client_concurrency < 0:
            raise ValueError("client_concurrency must be 0 (no limit) or more")
        if not self.request_read_timeout > 0:
            raise ValueError(f"request_read_timeout must be > 0, not {self.request_read_timeout}")


def load_config(env: Mapping[str, str], path: Path | None = None) -> tuple[Settings, AppConfig]:
    """The engine's settings and the app's, from one parse of one file (``path``, else
    FACE_LOGIN_CONFIG, else the shipped config.ini) and the environment; ConfigError (one
    line) on an unknown section, key or variable, or a bad value."""
    source = read_config(path, env)
    source.check_known({**engine_sections(), "app": AppConfig}, APP_ALIASES)
    return settings_from(source), source.section("app", AppConfig, APP_ALIASES)
