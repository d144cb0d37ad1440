"""PostgreSQL out of reach: start-up stops with one line naming the database (never its
password), and a request answers 503 ``store_unavailable`` instead of a 500."""

from __future__ import annotations

import subprocess
import sys

import pytest

from face_engine.errors import StoreUnavailable
from tests.helpers import OBAMA, ROOT
from tests.postgres import postgres_store_config

UNREACHABLE = "host=/nonexistent-face-login dbname=faces user=face password=hunter2"


def test_an_unreachable_database_is_named_without_its_password():
    from face_engine.store.postgres import open_postgres_store

    with pytest.raises(StoreUnavailable) as refused:
        open_postgres_store(postgres_store_config(UNREACHABLE))
    message = str(refused.value)
    assert "cannot be reached" in message and "/nonexistent-face-login" in message
    assert "hunter2" not in message and "\n" not in message


def test_start_up_stops_with_one_line(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "FACE_LOGIN_DATA": str(tmp_path),
        "FACE_LOGIN_STORE_BACKEND": "postgres",
        "FACE_LOGIN_STORE_POSTGRES_DSN": UNREACHABLE,
    }
    done = subprocess.run(
        [sys.executable, "gunicorn.conf.py", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("face-login: PostgreSQL at "), done.stderr
    assert "hunter2" not in done.stderr


@pytest.mark.integration
def test_a_request_while_the_database_is_gone_answers_503(postgres_dsn, tmp_path, engine, photo):
    from app import create_app
    from tests.app.conftest import ADMIN_TOKEN
    from tests.helpers import NO_LIMITS, FaceAuthActions

    env = {
        "FACE_LOGIN_DATA": str(tmp_path / "data"),
        "FACE_LOGIN_ADMIN_TOKEN": ADMIN_TOKEN,
        "FACE_LOGIN_LIVENESS_LOGIN": "false",
        "FACE_LOGIN_LIVENESS_REGISTER": "false",
        "FACE_LOGIN_STORE_BACKEND": "postgres",
        "FACE_LOGIN_STORE_POSTGRES_DSN": postgres_dsn,
    }
    app = create_app({"TESTING": True, **NO_LIMITS}, env=env, engine=engine)
    auth = FaceAuthActions(app, photo)
    assert auth.register("obama", OBAMA[0]).status_code == 201
    pool = app.extensions["face_login"].store.faces.pool
    pool.close()
    pool.dsn = UNREACHABLE  # the server gone: every new connection fails
    r = auth.login(OBAMA[1])
    assert r.status_code == 503 and r.json["error"] == "store_unavailable", r.json
    assert "hunter2" not in r.json["detail"]
