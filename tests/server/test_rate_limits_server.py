"""Rate limits on a real gunicorn with 2 workers: exactly N requests get through across both
workers, with the default storage (lmdb://) and with a real redis-server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.server.test_gunicorn import free_port, start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.integration]
LIMIT = 6
CONNECTIONS = 8
PER_CONNECTION = 5


@pytest.fixture
def redis_uri(tmp_path):
    """A throwaway redis-server on a free loopback port, nothing saved; stopped after."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server not installed; CI must not skip the Redis test")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    import redis

    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port)
    try:
        deadline = time.time() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.time() > deadline:
                    raise
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)


def wait_for_both_workers(base: str, access: Path) -> None:
    """``start_server`` returns when one worker answers; the other may still be loading its
    models (seconds on a 2-core machine) and would miss the burst. Ask /healthz on fresh
    connections until the access log shows two worker pids."""
    deadline = time.time() + 180
    while time.time() < deadline:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: requests.get(f"{base}/healthz", timeout=60), range(4)))
        pids = re.findall(r"^<(\d+)> \d+ /healthz$", access.read_text(), re.MULTILINE)
        if len(set(pids)) == 2:
            return
        time.sleep(0.5)
    raise AssertionError("the second worker never answered /healthz")


def count_across_workers(tmp_path: Path, monkeypatch, storage: str | None) -> None:
    """CONNECTIONS kept-alive connections at once, PER_CONNECTION challenges each: exactly
    LIMIT answered 200, the rest 429, and the access log shows both workers answered."""
    access = tmp_path / "access.log"
    monkeypatch.setenv("FACE_LOGIN_APP_CHALLENGE_RATE_LIMIT", f"{LIMIT} per hour")
    # One request at a time per worker: with several threads, one idle worker can take every
    # connection of a cheap request like this one, and the other worker never counts.
    monkeypatch.setenv("FACE_LOGIN_APP_THREADS", "1")
    if storage:
        monkeypatch.setenv("FACE_LOGIN_APP_RATELIMIT_STORAGE_URI", storage)
    monkeypatch.setenv(
        "GUNICORN_CMD_ARGS", f"--access-logfile {access} --access-logformat '%(p)s %(s)s %(U)s'"
    )
    proc, base, log = start_server(tmp_path / "data")
    try:
        wait_for_both_workers(base, access)

        def connection(_: int) -> list[int]:
            with requests.Session() as client:
                return [
                    client.post(f"{base}/api/challenge", timeout=120).status_code
                    for _ in range(PER_CONNECTION)
                ]

        with ThreadPoolExecutor(CONNECTIONS) as pool:
            codes = [code for codes in pool.map(connection, range(CONNECTIONS)) for code in codes]
    finally:
        stop_server(proc)
    served = re.findall(r"^<(\d+)> (\d+) /api/challenge$", access.read_text(), re.MULTILINE)
    assert len({pid for pid, _ in served}) == 2, "one worker answered everything"
    assert codes.count(200) == LIMIT, codes
    assert codes.count(429) == CONNECTIONS * PER_CONNECTION - LIMIT
    assert "Traceback" not in log.read_text()


def test_default_storage_counts_exactly_across_workers(tmp_path, monkeypatch):
    """The attack: spread attempts over the workers. memory:// let each worker's own count
    fill up (up to 2 x LIMIT got through)."""
    count_across_workers(tmp_path, monkeypatch, None)


def test_redis_counts_exactly_across_workers(tmp_path, monkeypatch, redis_uri):
    count_across_workers(tmp_path, monkeypatch, redis_uri)
