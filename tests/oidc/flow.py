"""What the OpenID provider's tests share: a live gunicorn with the head-turn challenge on,
applications registered through the admin API, a person's face login through the JSON API
(a real head-turn clip), and the relying party's side (Authlib's client)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.server.test_gunicorn import ADMIN, free_port, start_server

CLIP = "intel_female_headturn"  # turns both ways: passes either order of steps
LIVE = {"FACE_LOGIN_LIVENESS_LOGIN": "true", "FACE_LOGIN_LIVENESS_REGISTER": "true"}


def start_provider(data_dir: Path, **oidc: str) -> tuple[Any, str]:
    """gunicorn (one worker) with liveness on and ``[oidc]`` keys from ``oidc``."""
    env = {**LIVE, **{f"FACE_LOGIN_OIDC_{k.upper()}": v for k, v in oidc.items()}}
    env["FACE_LOGIN_APP_CHALLENGE_RATE_LIMIT"] = "1000 per minute"
    proc, base, _ = start_server(data_dir, workers=1, extra_env=env)
    return proc, base


def admin(base: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{base}{path}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60, **kwargs
    )


def add_client(base: str, **fields: Any) -> dict[str, Any]:
    r = admin(base, "POST", "/api/admin/oidc/clients", json=fields)
    assert r.status_code == 201, r.text
    return dict(r.json())


def clip(liveness: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((liveness / CLIP).glob("*.jpg"))]


def face_login(
    browser: requests.Session, base: str, frames: list[bytes], username: str | None = None
) -> requests.Response:
    """Register (``username``) or log in with a head turn, as the login page does: a
    challenge, then the frames; retried once should liveness refuse this order of steps."""
    url = f"{base}/api/register" if username else f"{base}/api/login"
    for _ in range(2):
        challenge = browser.post(f"{base}/api/challenge", headers=_origin(base), timeout=30)
        assert challenge.status_code == 200, challenge.text
        files = [("image", (f"{i:03d}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)]
        data = {"challenge": challenge.json()["challenge"]}
        if username:
            data["username"] = username
        r = browser.post(url, data=data, files=files, headers=_origin(base), timeout=300)
        if r.status_code != 401 or r.json().get("error") != "liveness_failed":
            break
    assert r.status_code in (200, 201), r.text
    return r


def _origin(base: str) -> dict[str, str]:
    return {"Origin": base}


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def callback_server_url() -> str:
    """A redirect URI on loopback nobody listens on: the browser stops at its Location."""
    return f"http://127.0.0.1:{free_port()}/callback"
