"""gunicorn settings for ``make run`` and the Docker image: HOST/PORT from the environment,
workers and threads from config.ini [app]. No preload: each worker loads the models once.

Configuration mistakes and a store made by another model stop start-up here, with one line
saying what is wrong and what to do. That check runs in a child Python (this file, run as a
script), so the master imports none of face_engine's native libraries and forks workers that
hold no thread-owning state of theirs. (onnxruntime, imported in the master, used to start its
telemetry thread there; every worker then aborted, crashed or hung at exit joining a thread it
did not have. face_engine.vision now turns that telemetry off; this keeps the master clean of
the next such library too, and small.)

The control socket (``gunicornc``) lives in the data folder, so that two services on one machine
never share, or delete, each other's ``~/.gunicorn/gunicorn.ctl``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
# AF_UNIX socket paths are limited to 107 bytes on Linux.
MAX_SOCKET_PATH = 100


def checked_config() -> dict[str, Any]:
    """Read config.ini and the environment, check the store's model: what the master needs."""
    sys.path.insert(0, str(ROOT))
    from app.config import load_config
    from face_engine import (
        ConfigError,
        ModelMismatch,
        StoreOutdated,
        StoreUnavailable,
        check_stored_model,
    )

    try:
        settings, app_config = load_config(os.environ)
        model = check_stored_model(settings)
    except (ConfigError, ModelMismatch, StoreOutdated, StoreUnavailable) as error:
        print(f"face-login: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    return {
        "workers": app_config.workers,
        "threads": app_config.threads,
        "timeout": app_config.timeout,
        "request_read_timeout": app_config.request_read_timeout,
        "max_content_length": app_config.max_content_length,
        "max_held_request_bytes": app_config.max_held_request_bytes,
        # Behind a proxy every client has the proxy's address: no per-address upload rate.
        "client_upload_rate": 0 if app_config.trusted_proxies else app_config.client_upload_rate,
        "data_dir": str(Path(settings.data.dir).resolve()),
        "model": model.tag,
        "threshold": settings.model.threshold,
        "admin": bool(app_config.admin_token),
    }


def checked_config_in_child() -> dict[str, Any]:
    """``checked_config`` run by a child Python, so no native library loads in the master."""
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--check"],
        cwd=os.getcwd(),
        stdout=subprocess.PIPE,
        check=False,
    )
    if child.returncode != 0:
        sys.exit(1)
    config: dict[str, Any] = json.loads(child.stdout)
    return config


def worker_class_for(config: dict[str, Any]) -> type:
    """gthread whose threads get whole requests only (serving/worker.py), with [app]'s
    request_read_timeout, max_content_length, max_held_request_bytes and client_upload_rate.
    Pure Python: safe
    in the master."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from serving.worker import buffering_worker

    return buffering_worker(
        config["request_read_timeout"],
        config["max_content_length"],
        config["max_held_request_bytes"],
        config.get("client_upload_rate", 0),
    )


def control_socket_for(data_dir: Path) -> str | None:
    """``<data>/gunicorn.ctl``, or None when that path is too long for a Unix socket."""
    path = str(data_dir / "gunicorn.ctl")
    return path if len(path.encode()) <= MAX_SOCKET_PATH else None


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        sys.exit("usage: python gunicorn.conf.py --check")
    print(json.dumps(checked_config()))
    sys.exit(0)

_config = checked_config_in_child()
host = os.environ.get("HOST", "127.0.0.1")
port = os.environ.get("PORT", "8000")
bind = f"{host}:{port}"
workers = int(os.environ.get("WEB_CONCURRENCY", _config["workers"]))
threads = _config["threads"]
# Requests are read whole on each worker's event loop before a thread gets them: slow clients
# cannot hold the threads (issue 17; docs/robustness.md).
worker_class = worker_class_for(_config)
timeout = _config["timeout"]
preload_app = False
accesslog = "-"
errorlog = "-"
loglevel = "info"
# Photos never reach a log: only the request line.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
_control_socket = control_socket_for(Path(_config["data_dir"]))
if _control_socket is None:
    control_socket_disable = True
else:
    control_socket = _control_socket


def when_ready(server: Any) -> None:
    """One banner: where to point the browser, the model, the workers, the data folder."""
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    print(
        f"\n  face-login is running: open http://{shown}:{port}/ in your browser"
        f"\n  model: {_config['model']} (threshold {_config['threshold']})"
        f"\n  workers: {workers} x {threads} threads"
        f"\n  data: {_config['data_dir']}"
        f"\n  control socket: {_control_socket or 'off (data path too long)'}"
        f"\n  admin: {'on' if _config['admin'] else 'off (no admin token)'}\n",
        flush=True,
    )
