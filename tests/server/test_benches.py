"""The benches as programs: index-bench cleans up when interrupted; the load bench runs
against a real gunicorn and only on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.server.test_gunicorn import start_server, stop_server


def wait_for(predicate, seconds: float, proc: subprocess.Popen) -> None:
    """Poll ``predicate`` until it holds; fail if ``proc`` ends or time runs out first."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_index_bench_removes_its_temporary_folder_when_interrupted(tmp_path: Path, sig):
    """Interrupted while building its index, index-bench exits 128+signal and leaves nothing
    in TMPDIR."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.index_bench", "--n", "20000", "--queries", "50", "--json"],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any(tmp_path.glob("index-bench-*/default")), 120, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err[-2000:]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.server
@pytest.mark.integration
def test_load_bench_against_a_real_server(tmp_path: Path, face_data: Path):
    """bench/load.py registers its user, then logs in with 3 frames from 2 connections, within
    its request budget, and every login succeeds."""
    proc, base, _ = start_server(tmp_path / "data")
    try:
        bench = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.load",
                base,
                "--concurrency",
                "2",
                "--frames",
                "3",
                "--duration",
                "20",
                "--max-requests",
                "6",
                "--warmup",
                "2",
                "--photos",
                str(face_data / "people" / "barack_obama"),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop_server(proc)
    assert bench.returncode == 0, bench.stderr[-2000:]
    result = json.loads(bench.stdout)
    assert result["user"]["registered"] is True
    assert result["requests"] == result["logins_ok"] == 6
    assert result["errors"] == {} and result["logins_per_s"] > 0
    assert set(result["latency_ms"]) == {"p50", "p95", "p99", "mean", "max"}


@pytest.mark.server
@pytest.mark.integration
def test_challenge_load_bench_plays_the_head_turn_against_shipped_settings(
    tmp_path: Path, liveness_data: Path
):
    """bench/load.py --challenge against liveness on: registers from real head-turn frames,
    a wrong-order login is refused, then every login answers its own challenge."""
    proc, base, _ = start_server(
        tmp_path / "data",
        extra_env={
            "FACE_LOGIN_LIVENESS_LOGIN": "true",
            "FACE_LOGIN_LIVENESS_REGISTER": "true",
            "FACE_LOGIN_APP_CHALLENGE_RATE_LIMIT": "1000 per minute",
        },
    )
    try:
        bench = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.load",
                base,
                "--challenge",
                "--levels",
                "1,2",
                "--duration",
                "60",
                "--max-requests",
                "4",
                "--warmup",
                "2",
                "--liveness",
                str(liveness_data),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        stop_server(proc)
    assert bench.returncode == 0, bench.stderr[-2000:]
    result = json.loads(bench.stdout)
    assert result["users"]["ana"].startswith("registered as ana-"), result["users"]
    assert result["wrong_order_refused"] is True
    assert [level["concurrency"] for level in result["levels"]] == [1, 2]
    for level in result["levels"]:
        assert level["requests"] == level["logins_ok"] == 4 and level["errors"] == {}, level
        assert set(level["latency_ms"]) == {"p50", "p95", "p99", "mean", "max"}


@pytest.mark.parametrize("url", ["http://192.0.2.1:8000", "http://8.8.8.8", "ftp://127.0.0.1/"])
def test_load_bench_refuses_anything_but_loopback(url, capsys):
    from bench.load import main

    assert main([url]) == 2
    assert "load:" in capsys.readouterr().err
