"""[app] request_read_timeout and max_held_request_bytes: shipped, overridden from the
environment, checked; and the worker class gunicorn.conf.py builds carries them."""

from __future__ import annotations

import pytest

from app.config import load_config
from face_engine import ConfigError
from serving.worker import BufferingWorker, buffering_worker


def test_the_shipped_limits_and_their_environment_overrides():
    _, app = load_config({})
    assert app.request_read_timeout == 30 and app.max_held_request_bytes == 128 * 1024 * 1024
    env = {
        "FACE_LOGIN_APP_REQUEST_READ_TIMEOUT": "7.5",
        "FACE_LOGIN_APP_MAX_HELD_REQUEST_BYTES": "1000000",
    }
    _, app = load_config(env)
    assert app.request_read_timeout == 7.5 and app.max_held_request_bytes == 1_000_000


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_read_timeout_stops_start_up_naming_it(value):
    with pytest.raises(ConfigError, match="(?i)request_read_timeout"):
        load_config({"FACE_LOGIN_APP_REQUEST_READ_TIMEOUT": value})


def test_the_worker_class_carries_the_limits_without_changing_the_base():
    worker = buffering_worker(5, 1234, 99999)
    assert issubclass(worker, BufferingWorker) and worker is not BufferingWorker
    assert (worker.read_timeout, worker.max_body, worker.max_held) == (5, 1234, 99999)
    assert BufferingWorker.read_timeout == 30.0
