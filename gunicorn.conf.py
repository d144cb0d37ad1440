"""gunicorn settings for ``make run`` and the Docker image: HOST/PORT from the environment,
workers and threads from config.ini [app]. No preload: each worker loads the models once."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app.config import load_config  # noqa: E402

_settings, _app_config = load_config(os.environ)

host = os.environ.get("HOST", "127.0.0.1")
port = os.environ.get("PORT", "8000")
bind = f"{host}:{port}"
workers = int(os.environ.get("WEB_CONCURRENCY", _app_config.workers))
threads = _app_config.threads
timeout = _app_config.timeout
preload_app = False
accesslog = "-"
errorlog = "-"
loglevel = "info"
# Photos never reach a log: only the request line.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def when_ready(server):
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    print(
        f"\n  face-login is running: open http://{shown}:{port}/ in your browser"
        f"\n  data: {_settings.data.dir}\n",
        flush=True,
    )
