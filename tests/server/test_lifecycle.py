"""A real gunicorn's life: every worker exits cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
import requests

from tests.server.test_gunicorn import files, login_until_both_workers, start_server

pytestmark = [pytest.mark.server, pytest.mark.integration]


def register_obama(base: str, photo) -> None:
    r = requests.post(
        f"{base}/api/register",
        data={"username": "obama"},
        files=files(photo, "people/barack_obama/1.jpg"),
        timeout=60,
    )
    assert r.status_code == 201, r.text


def native_libraries(pid: int) -> str:
    """The file paths mapped into process ``pid``."""
    return Path(f"/proc/{pid}/maps").read_text()


def test_sigterm_every_worker_exits_cleanly(tmp_path, photo):
    """Both workers have loaded every model (register, then concurrent logins on each) when the
    master gets SIGTERM: the master exits 0, and no worker dies of a signal or a non-zero code
    (they used to abort in onnxruntime's exit handlers, forked from a master that imported it)."""
    proc, base, log = start_server(tmp_path / "data")
    try:
        master_libraries = native_libraries(proc.pid)
        register_obama(base, photo)
        assert len(login_until_both_workers(base, photo, "people/barack_obama/2.jpg")) == 2
        proc.send_signal(signal.SIGTERM)
        master_status = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert master_status == 0, text[-3000:]
    assert len(re.findall(r"Worker exiting \(pid: \d+\)", text)) == 2, text[-3000:]
    assert "was sent" not in text, text[-3000:]
    assert "exited with code" not in text, text[-3000:]
    assert "terminate called" not in text, text[-3000:]
    assert "Shutting down: Master" in text
    assert "onnxruntime" not in master_libraries, "the master must not load onnxruntime"
