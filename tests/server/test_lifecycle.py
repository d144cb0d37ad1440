"""A real gunicorn's life: clean exits on SIGTERM, and two services side by side on one machine."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.helpers import ROOT
from tests.server.test_gunicorn import files, login_until_both_workers, start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.integration]
GUNICORNC = Path(sys.executable).parent / "gunicornc"


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


FORK_AFTER_IMPORT = """
import os, signal, sys, time
import face_engine.vision.dlib_embedding  # imports onnxruntime
statuses = []
for _ in range(5):
    pid = os.fork()
    if pid == 0:
        sys.exit(0)
    deadline = time.monotonic() + 20
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        done = os.waitpid(pid, 0)
    statuses.append(done[1])
print(statuses)
"""


def test_children_forked_after_importing_onnxruntime_exit_cleanly(tmp_path):
    """The root cause on its own: onnxruntime's telemetry thread, started at import, made every
    child forked after the import abort, crash or hang at exit. face_engine.vision turns the
    telemetry off, so no thread, no ``$TMPDIR/.ses`` and children exit 0."""
    proc = subprocess.run(
        [sys.executable, "-c", FORK_AFTER_IMPORT],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == [0] * 5, proc.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []


def test_two_services_keep_their_own_control_sockets(tmp_path):
    """Each service's control socket lives in its data folder: stopping one leaves the other's
    socket in place and answering, and nothing is created under the shared home folder."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": ""}
    first, _, _ = start_server(tmp_path / "a", workers=1, extra_env=env)
    try:
        second, _, _ = start_server(tmp_path / "b", workers=1, extra_env=env)
    except BaseException:
        stop_server(first)
        raise
    try:
        a_socket, b_socket = tmp_path / "a" / "gunicorn.ctl", tmp_path / "b" / "gunicorn.ctl"
        assert a_socket.is_socket() and b_socket.is_socket()
        stop_server(first)
        assert not a_socket.exists()
        assert b_socket.is_socket()
        answer = subprocess.run(
            [str(GUNICORNC), "-s", str(b_socket), "-c", "show workers", "-j"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout)["count"] == 1
        assert not (home / ".gunicorn").exists()
    finally:
        stop_server(second)
        if first.poll() is None:
            stop_server(first)
