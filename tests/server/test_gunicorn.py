"""A real server: gunicorn with 2 workers on a free loopback port, real models, real photos."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.helpers import ROOT

pytestmark = [pytest.mark.server, pytest.mark.integration]
ADMIN = "server-test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    data_dir: Path, workers: int = 2, extra_env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen, str, Path]:
    """gunicorn as ``make run`` starts it, on a free port, with ``extra_env`` on top of the
    test settings; returns (process, base URL, log)."""
    port = free_port()
    log = data_dir.parent / f"gunicorn-{port}.log"
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "FACE_LOGIN_DATA": str(data_dir),
        "FACE_LOGIN_ADMIN_TOKEN": ADMIN,
        "FACE_LOGIN_APP_LOGIN_RATE_LIMIT": "1000 per minute",
        "FACE_LOGIN_APP_REGISTER_RATE_LIMIT": "1000 per minute",
        # Every request comes from one address here: no per-client share of the workers.
        "FACE_LOGIN_APP_CLIENT_CONCURRENCY": "0",
        "FACE_LOGIN_APP_CLIENT_WORK_LIMIT": "",
        # Head-turn logins here send one recording again and again: the replay memory (tested
        # on its own) would refuse them.
        "FACE_LOGIN_LIVENESS_REPLAY_KEEP": "0",
        # Photos as frames: these tests are about the workers; the challenge has its own.
        "FACE_LOGIN_LIVENESS_LOGIN": "false",
        "FACE_LOGIN_LIVENESS_REGISTER": "false",
        **(extra_env or {}),
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(gunicorn), "-c", "gunicorn.conf.py", "app:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{base}/healthz", timeout=30).status_code == 200:
                return proc, base, log
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"gunicorn did not answer: {log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def server(tmp_path):
    proc, base, log = start_server(tmp_path / "data")
    yield base, log
    stop_server(proc)


def files(photo, *names):
    return [("image", (n.rsplit("/", 1)[-1], photo(n), "image/jpeg")) for n in names]


def login_until_both_workers(base: str, photo, name: str) -> set[int]:
    """Log in over several kept-alive connections at once until both workers have served a
    login; each connection then asks /healthz which worker it is on (same connection, same
    worker). One connection at a time tends to land on the same idle worker every time."""

    def login_and_ask(_: int) -> int:
        with requests.Session() as client:
            r = client.post(f"{base}/api/login", files=files(photo, name), timeout=60)
            assert r.status_code == 200, r.text
            assert r.json()["username"] == "obama"
            admin = {"Authorization": f"Bearer {ADMIN}"}
            return client.get(f"{base}/api/admin/stats", headers=admin, timeout=30).json()["worker"]

    workers: set[int] = set()
    with ThreadPoolExecutor(4) as pool:
        for _ in range(10):
            workers.update(pool.map(login_and_ask, range(4)))
            if len(workers) == 2:
                break
    return workers


def test_register_login_across_workers_rebuild_login_again(server, photo):
    base, log = server
    r = requests.post(
        f"{base}/api/register",
        data={"username": "obama"},
        files=files(photo, "people/barack_obama/1.jpg", "people/barack_obama/2.jpg"),
        timeout=60,
    )
    assert r.status_code == 201, r.text
    assert "HttpOnly" in r.headers["Set-Cookie"]
    # Every worker sees the new user at once (fresh faces are searched exactly), no rebuild yet.
    assert len(login_until_both_workers(base, photo, "people/barack_obama/3.jpg")) == 2
    r = requests.post(f"{base}/api/login", files=files(photo, "people/joe_biden/1.jpg"), timeout=60)
    assert r.status_code == 401 and r.json()["error"] == "not_recognized"

    admin = {"Authorization": f"Bearer {ADMIN}"}
    r = requests.post(f"{base}/api/admin/rebuild-index", headers=admin, timeout=30)
    assert r.status_code == 202, r.text
    for _ in range(600):  # a background job: any worker reports its status from LMDB
        status = requests.get(f"{base}/api/admin/rebuild-index", headers=admin, timeout=30).json()
        if status["state"] != "running":
            break
        time.sleep(0.1)
    assert status["state"] == "done" and status["faces"] == 2, status
    version = status["version"]
    assert len(login_until_both_workers(base, photo, "people/barack_obama/4.jpg")) == 2
    stats = requests.get(f"{base}/api/admin/stats", headers=admin, timeout=30).json()
    assert stats["index_version"] == version and stats["users"] == 1
    # /healthz says only that the service is up: no counts, no worker pid.
    assert requests.get(f"{base}/healthz", timeout=30).json() == {"status": "ok"}
    assert "Traceback" not in log.read_text()


def test_session_cookie_round_trip(server, photo):
    base, _ = server
    browser = requests.Session()
    r = browser.post(
        f"{base}/api/register",
        data={"username": "kate"},
        files=files(photo, "people/kate_siegel/1.jpg"),
        timeout=60,
    )
    assert r.status_code == 201
    assert browser.get(f"{base}/api/me", timeout=30).json()["username"] == "kate"
    # With the cookie, a POST needs the CSRF token from a page.
    assert browser.post(f"{base}/api/logout", timeout=30).status_code == 403
    page = browser.get(f"{base}/account", timeout=30).text
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    assert browser.post(f"{base}/api/logout", headers={"X-CSRF-Token": token}, timeout=30).ok
    assert browser.get(f"{base}/api/me", timeout=30).status_code == 401
