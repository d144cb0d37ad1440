"""Forward auth behind a real nginx (Debian's, started here on loopback): ``auth_request`` to
``/auth/verify`` in front of a small upstream, with the configuration the README shows."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.oidc.flow import clip, face_login, query, start_provider
from tests.server.test_gunicorn import free_port, stop_server

pytestmark = [pytest.mark.server, pytest.mark.integration, pytest.mark.slow]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# The README's location blocks, with the two addresses filled in.
LOCATIONS = """
    location = /_face_login_verify {
        internal;
        proxy_pass FACE_LOGIN/auth/verify;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }

    location / {
        auth_request /_face_login_verify;
        auth_request_set $face_login_user $upstream_http_x_face_login_user;
        auth_request_set $face_login_redirect $upstream_http_location;
        error_page 401 =302 $face_login_redirect;
        proxy_set_header X-Face-Login-User $face_login_user;
        proxy_pass UPSTREAM;
    }
"""


class Upstream(BaseHTTPRequestHandler):
    """The protected application: says who nginx says the user is."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = f"hello {self.headers.get('X-Face-Login-User', '')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def nginx_conf(folder: Path, port: int, face_login: str, upstream: str) -> Path:
    locations = LOCATIONS.replace("FACE_LOGIN", face_login).replace("UPSTREAM", upstream)
    temp = "\n".join(
        f"    {name}_temp_path {folder / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
"""
    )
    return conf


@pytest.fixture
def nginx(tmp_path):
    if not os.access(NGINX, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail("nginx is needed (make nginx-deps installs it)")
        pytest.skip("nginx not installed (make nginx-deps)")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    proc, base = start_provider(tmp_path / "data", allowed_return_hosts="127.0.0.1")
    port = free_port()
    conf = nginx_conf(tmp_path, port, base, f"http://127.0.0.1:{upstream.server_port}")
    web = subprocess.Popen(
        [NGINX, "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    proxy = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            assert web.poll() is None, (tmp_path / "error.log").read_text()
            try:
                requests.get(proxy, timeout=5, allow_redirects=False)
                break
            except requests.ConnectionError:
                assert time.time() < deadline, "nginx did not start"
                time.sleep(0.2)
        yield proxy, base
    finally:
        web.terminate()
        web.wait(timeout=30)
        upstream.shutdown()
        upstream.server_close()
        stop_server(proc)


def test_nginx_sends_strangers_to_the_login_page_and_lets_the_person_in(nginx, liveness_data):
    proxy, base = nginx
    browser = requests.Session()
    target = f"{proxy}/reports?year=2026&team=a"
    r = browser.get(target, allow_redirects=False, headers={"X-Face-Login-User": "admin"})
    assert r.status_code == 302, r.text
    login = r.headers["Location"]
    assert login.startswith(f"{base}/login?return=") and query(login)["return"] == target
    page = browser.get(login)
    assert page.status_code == 200 and 'id="login-page"' in page.text
    assert "to continue to <strong>127.0.0.1:" in page.text

    face_login(browser, base, clip(liveness_data), username="ana")
    r = browser.get(query(login)["return"], allow_redirects=False)
    assert r.status_code == 200 and r.text == "hello ana", "the upstream sees the user"
    # What a client sends in the header itself never reaches the upstream.
    r = browser.get(target, headers={"X-Face-Login-User": "admin"})
    assert r.text == "hello ana"

    assert browser.post(f"{base}/api/logout", headers={"Origin": base}).status_code == 200
    r = browser.get(target, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith(f"{base}/login")
