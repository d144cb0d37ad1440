"""gunicorn settings for ``make run`` and the Docker image: HOST/PORT from the environment,
workers and threads from config.ini [app]. No preload: each worker loads the models once.

Configuration mistakes and a store made by another model stop start-up here, in the master,
with one line saying what is wrong and what to do.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app.config import load_config  # noqa: E402
from face_engine import ConfigError, ModelMismatch, StoreOutdated, check_stored_model  # noqa: E402

try:
    _settings, _app_config = load_config(os.environ)
    _model = check_stored_model(_settings)
except (ConfigError, ModelMismatch, StoreOutdated) as error:
    print(f"face-login: {error}", file=sys.stderr, flush=True)
    sys.exit(1)

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
        f"\n  model: {_model.tag} (threshold {_settings.model.threshold})"
        f"\n  workers: {workers} x {threads} threads"
        f"\n  data: {_settings.data.dir}"
        f"\n  admin: {'on' if _app_config.admin_token else 'off (no admin token)'}\n",
        flush=True,
    )
