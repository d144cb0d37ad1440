"""The web service's own settings: the ``[app]`` section of config.ini, env overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from face_engine.config import Settings, load_settings, read_parser, read_section


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Everything under ``[app]``; override any key as FACE_LOGIN_APP_<KEY>."""

    admin_token: str = ""
    secret_key: str = ""
    workers: int = 2
    threads: int = 4
    timeout: int = 120
    max_content_length: int = 16 * 1024 * 1024
    max_images: int = 5
    login_rate_limit: str = "10 per minute; 60 per hour"
    register_rate_limit: str = "5 per minute; 30 per hour"
    preview_rate_limit: str = "300 per minute"
    admin_rate_limit: str = "60 per minute"
    ratelimit_storage_uri: str = "memory://"
    session_cookie_secure: bool = False
    session_hours: int = 12
    trusted_proxies: int = 0


def load_config(env: Mapping[str, str], path: Path | None = None) -> tuple[Settings, AppConfig]:
    """The engine's settings and the app's, from the same file (FACE_LOGIN_CONFIG or the
    shipped config.ini) and the same environment."""
    if path is None and env.get("FACE_LOGIN_CONFIG"):
        path = Path(env["FACE_LOGIN_CONFIG"])
    settings = load_settings(path, env)
    parser, base_dir = read_parser(path)
    return settings, read_section(parser, "app", AppConfig, env, base_dir)
